"""Optuna's private API as archgen relies on it (archgen/search/optuna_internals.py): each attribute and signature
exists and behaves so. An Optuna release that changes one fails here, by name, before a search misbehaves.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.storages.journal._storage import JournalOperation, JournalStorageReplayResult
from optuna.trial import FrozenTrial, TrialState

from archgen.search.optuna_internals import GuardedJournal, fail_trial, record_heartbeat, trial_id, unsound

# The operation codes archgen's guard knows by name, as Optuna writes them in a journal.
OPERATIONS = {"CREATE_STUDY": 0, "DELETE_STUDY": 1, "SET_STUDY_USER_ATTR": 2, "SET_STUDY_SYSTEM_ATTR": 3,
              "CREATE_TRIAL": 4, "SET_TRIAL_PARAM": 5, "SET_TRIAL_STATE_VALUES": 6, "SET_TRIAL_INTERMEDIATE_VALUE": 7,
              "SET_TRIAL_USER_ATTR": 8, "SET_TRIAL_SYSTEM_ATTR": 9, "DISCARD_TRIALS": 10}


def journal_study(path: Path) -> optuna.Study:
    return optuna.create_study(storage=JournalStorage(JournalFileBackend(str(path))), study_name="s")


def test_a_trials_id_addresses_it_in_the_storage(tmp_path: Path) -> None:
    study = journal_study(tmp_path / "j.log")
    study.ask()
    trial = study.ask()
    frozen = study.get_trials()[1]
    assert trial_id(trial) == trial_id(frozen)  # Trial._trial_id and FrozenTrial._trial_id
    assert study._storage.get_trial(trial_id(trial)).number == 1  # Study._storage, by id


def test_fail_trial_sets_attributes_before_the_state_and_says_when_it_was_finished(tmp_path: Path) -> None:
    study = journal_study(tmp_path / "j.log")
    study.ask()
    running = study.get_trials()[0]
    assert fail_trial(study, running, {"outcome": "failed", "reason": "stale"}) is True
    [failed] = study.get_trials()
    assert failed.state == TrialState.FAIL and failed.user_attrs == {"outcome": "failed", "reason": "stale"}
    assert fail_trial(study, running, {"reason": "again"}) is False  # UpdateFinishedTrialError, as archgen expects
    assert study.get_trials()[0].user_attrs["reason"] == "stale"


def test_a_recorded_heartbeat_makes_a_silent_trial_stale_and_only_that_one(tmp_path: Path) -> None:
    """record_heartbeat through Study._storage reaches the RDB storage's heartbeat table; Optuna's stale rule judges
    only trials with a heartbeat (control: the trial that never beat stays RUNNING)."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'h.db'}", heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(storage=storage)
    beating, silent = study.ask(), study.ask()
    record_heartbeat(study, beating)
    time.sleep(2.5)
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        optuna.storages.fail_stale_trials(study)
    states = [trial.state for trial in study.get_trials()]
    assert states[beating.number] == TrialState.FAIL and states[silent.number] == TrialState.RUNNING


def test_the_journals_replay_is_what_the_guard_overrides() -> None:
    assert list(inspect.signature(JournalStorage._sync_with_backend).parameters) == ["self"]
    assert "_sync_with_backend" in JournalStorage.__dict__  # overridden, not inherited from elsewhere
    replay = JournalStorageReplayResult("prefix-")
    assert replay.log_number_read == 0 and replay.worker_id.startswith("prefix-") and replay._trials == {}
    assert list(inspect.signature(replay.apply_logs).parameters) == ["logs"]
    assert {operation.name: operation.value for operation in JournalOperation} == OPERATIONS


class Damaged(Exception):
    pass


def damage(problem: str, line: int) -> Exception:
    return Damaged(f"{line}: {problem}")


def test_the_guard_applies_another_process_s_records_and_raises_on_a_bad_one_by_line(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    journal_study(path).ask()
    with path.open("a") as file:  # another process's trial
        file.write(json.dumps({"op_code": 4, "worker_id": "other", "study_id": 0,
                               "datetime_start": "2026-01-01T00:00:00"}) + "\n")
    guarded = GuardedJournal(JournalFileBackend(str(path)), check=None, damage=damage)
    assert len(guarded.get_all_trials(0)) == 2  # replayed through the override: its trial and the other's
    with path.open("a") as file:  # then a record of another Optuna version
        file.write(json.dumps({"op_code": 99, "worker_id": "other"}) + "\n")
    line = len(path.read_text().splitlines())
    for _ in range(2):  # the next read stops at it, and so does every later one
        with pytest.raises(Damaged, match=f"^{line}: operation code 99 is unknown"):
            guarded.get_all_trials(0)


def test_frozen_trials_validate_as_archgen_relies_on() -> None:
    """FrozenTrial._validate: a COMPLETE trial without values is refused; a sound one passes."""
    distributions = {"x": optuna.distributions.IntDistribution(1, 4)}
    sound = optuna.trial.create_trial(params={"x": 2}, distributions=distributions, value=0.5)
    assert unsound(sound, None) is None
    broken = FrozenTrial(number=0, state=TrialState.COMPLETE, value=None, datetime_start=None, datetime_complete=None,
                         params={}, distributions={}, user_attrs={}, system_attrs={}, intermediate_values={},
                         trial_id=0)
    with pytest.raises(ValueError):
        broken._validate()
    assert unsound(broken, None) is not None
