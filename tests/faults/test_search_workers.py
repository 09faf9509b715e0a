"""Search workers under faults, on every storage (journal file, SQLite, PostgreSQL): a worker SIGKILLed mid-trial
costs only its trial (failed, then retried), and concurrent workers finish exactly --trials with no duplicates.

Each test carries a control: the kill really was a SIGKILL of a worker inside a RUNNING trial, and the audit that
finds no duplicate or missing trial does find them in a study fabricated to have them.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import optuna
import pytest
from search_helpers import (
    GRID,
    audit,
    make_config,
    postgres_password_url,
    share_among,
    start_worker,
    stderr_of,
    storage_url,
    wait_for,
)

from archgen import load_spec
from archgen.search import open_study, optimize, resolve_spec
from archgen.search import record as outcome

__all__ = ["postgres_password_url"]  # the session fixture, imported so that pytest finds it here

STORAGES = ["journal", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    kind = request.param
    postgres = request.getfixturevalue("postgres_password_url") if kind == "postgresql" else None
    return storage_url(kind, tmp_path, postgres)


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trained.jsonl"
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(path))
    return path


def trained(log: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# --- the audit, and its control --------------------------------------------------------------------------


def test_the_audit_finds_duplicates_missing_and_stuck_trials_in_a_fabricated_study() -> None:
    """Control for every count check below: a study made to be wrong is reported wrong."""
    study = optuna.create_study()
    distribution = {"x": optuna.distributions.IntDistribution(1, 4)}
    done = {"outcome": "complete"}
    for x in (1, 2, 2):  # point x=2 trained twice
        study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions=distribution, value=0.1,
                                                  user_attrs=done))
    stuck = study.ask()
    stuck.set_user_attr("outcome", "running")
    trials = study.get_trials()
    found = audit(trials)
    assert found.counted == 3 and found.duplicate_points == [(("x", 2),)] and found.running == [3]
    assert audit([*trials, trials[0]]).duplicate_numbers == [0]  # a trial number seen twice
    assert audit(trials[:2]).duplicate_points == [] and audit(trials[:2]).counted == 2


# --- a worker killed mid-trial -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("url", STORAGES, indirect=True)
def test_a_worker_killed_mid_trial_costs_only_its_trial(tmp_path: Path, url: str | None, log: Path) -> None:
    """Two workers; one is SIGKILLed inside its third trial; the survivor fails and retries that trial, ends at 8."""
    study, target, marker = f"kill-{tmp_path.name}"[:60], 8, tmp_path / "hanging"
    doomed = start_worker(tmp_path, trials=target, storage=url, study=study,
                          env={"ARCHGEN_FAKE_HANG_AFTER": "2", "ARCHGEN_FAKE_MARKER": str(marker)})
    survivor = start_worker(tmp_path, trials=target, storage=url, study=study, env={"ARCHGEN_FAKE_SLEEP": "0.2"})
    try:
        wait_for(marker)
        config = make_config(tmp_path, trials=target, storage=url, study=study)
        before = open_study(config).trials
        label = f"{socket.gethostname()}:{doomed.pid}"
        # control: the doomed worker is inside a RUNNING trial when it is killed
        doomed_trials = [t for t in before if t.state.name == "RUNNING" and t.user_attrs.get("worker") == label]
        assert len(doomed_trials) == 1
        completed_before = {t.number for t in before if outcome.counts(t)}
        doomed.send_signal(signal.SIGKILL)
        assert doomed.wait(timeout=30) == -signal.SIGKILL  # control: it died by SIGKILL, no cleanup ran
        assert survivor.wait(timeout=180) == 0, f"the survivor failed:\n{stderr_of(survivor)}"
    finally:
        for process in (doomed, survivor):
            if process.poll() is None:
                process.kill()
    trials = open_study(config).trials
    found = audit(trials)
    assert found.counted == target and not found.running and not found.duplicate_numbers
    assert completed_before <= {t.number for t in trials if outcome.counts(t)}  # nothing completed was lost
    stale = [t for t in trials if "stale" in t.user_attrs.get("reason", "")]
    assert [t.number for t in stale] == [doomed_trials[0].number] and label in stale[0].user_attrs["reason"]
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == stale[0].number]
    assert len(retried) == 1 and outcome.counts(retried[0]) and retried[0].params == stale[0].params
    assert len(trained(log)) == target  # the survivor's trainings: every counted trial trained once, by it


# --- concurrent workers ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("url", STORAGES, indirect=True)
def test_concurrent_workers_train_every_grid_point_exactly_once(
    tmp_path: Path, url: str | None, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three workers, an 8-point grid, --trials 8: each point trained once, no trial lost, none counted twice."""
    monkeypatch.setenv("ARCHGEN_FAKE_SLEEP", "0.02")
    share_among(3, tmp_path, monkeypatch)
    config = make_config(tmp_path, trials=8, storage=url, workers=3, study=f"grid-{tmp_path.name}"[:60])
    (tmp_path / "space.toml").write_text(GRID)
    config = config.__class__(**{**config.__dict__, "spec": resolve_spec(load_spec(tmp_path / "space.toml"))})
    assert optimize(config).verdict == "done"
    found = audit(open_study(config).trials)
    assert found.counted == 8 and not found.duplicate_points and not found.duplicate_numbers and not found.running
    calls = trained(log)
    assert len(calls) == 8 and len({call["pid"] for call in calls}) == 3  # every worker trained (share_among)


@pytest.mark.slow
def test_workers_on_an_oversubscribed_grid_wait_instead_of_proposing_duplicates(
    tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--trials 16 on an 8-point grid with 3 workers: every point once, then 'exhausted'; no duplicate proposals.

    Found by this battery: workers used to propose the last running point again and again in a tight loop,
    starving the worker that trained it until its heartbeat went stale and its result crashed it.
    """
    monkeypatch.setenv("ARCHGEN_FAKE_SLEEP", "0.02")
    config = make_config(tmp_path, trials=16, workers=3, study="oversubscribed")
    (tmp_path / "space.toml").write_text(GRID)
    config = config.__class__(**{**config.__dict__, "spec": resolve_spec(load_spec(tmp_path / "space.toml"))})
    assert optimize(config).verdict == "exhausted"
    trials = open_study(config).trials
    found = audit(trials)
    assert found.counted == 8 and not found.duplicate_points and not found.running
    assert [outcome.outcome(t) for t in trials].count("duplicate") == 0 and len(trained(log)) == 8


def test_a_trial_failed_as_stale_by_another_worker_is_dropped_not_a_crash(tmp_path: Path) -> None:
    """A slow worker whose trial another worker already failed (missed heartbeats) drops its result and goes on."""
    from fakes import fake_train

    def stalled_then_failed_by_a_peer(spec, *, device, listener):  # type: ignore[no-untyped-def]
        peer = open_study(config)  # a second handle on the storage, as another worker holds one
        running = [t for t in peer.get_trials(deepcopy=False) if t.state.name == "RUNNING"]
        if len(peer.trials) == 1:  # the first trial only: its peer fails it as stale while it trains
            peer.tell(running[0].number, state=optuna.trial.TrialState.FAIL)
        fake_train(spec, device=device, listener=listener)

    config = make_config(tmp_path, trials=2, study="taken-over", trainer=stalled_then_failed_by_a_peer)
    run = optimize(config)
    trials = open_study(config).trials
    assert run.verdict == "done" and trials[0].state.name == "FAIL"  # the peer's verdict stands
    assert [outcome.counts(t) for t in trials].count(True) == 2  # the search went on to its target
    # control: without the guard the first trial's epoch callback hits Optuna's finished-trial error
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        optuna.Trial(open_study(config), trials[0]._trial_id).set_user_attr("x", 1)
