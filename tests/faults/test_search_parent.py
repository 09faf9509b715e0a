"""Workers die with their parent: `archgen search --workers 2` training real networks on the digits, its parent
killed by SIGTERM, SIGHUP or SIGKILL while a trial is in the middle of its training. Within a bounded wait no
worker remains (by pid), the study stops growing, and the trial that was training is failed as stopped before
its last epoch.

A search in one process fails its running trial on SIGINT, SIGTERM or SIGHUP the same way.

Controls: the parent really died mid-trial (its exit status; a RUNNING trial with epochs left), and a worker
without the parent watch keeps training after its parent is SIGKILLed (the fault the watch exists for).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from search_helpers import TINY, make_config
from search_processes import children, epochs, kill_all, start_search, still_alive, training, trials

import archgen.search.claim
from archgen.search import Stopped, open_study, optimize
from archgen.search.storage import open_storage

EPOCHS = 30  # per trial: seconds of training on two cores, so a kill lands mid-trial
SPEC = TINY.replace("[search]\nepochs = 2", f"[search]\nepochs = {EPOCHS}")
ARGS = ("search", "space.toml", "--workers", "2", "--device", "cpu", "--trials", "100")
EXIT_WAIT = 30  # seconds the workers get to notice and exit: a bound, not a measurement


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    assert SPEC != TINY
    (tmp_path / "space.toml").write_text(SPEC)
    return tmp_path


def journal(folder: Path) -> Path:
    return folder / "runs" / "tiny-search" / "journal.log"


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda n: n.name)
def test_workers_die_with_their_parent(folder: Path, number: signal.Signals) -> None:
    parent = start_search(folder, *ARGS)
    workers: list[int] = []
    try:
        mid = training(journal(folder), epochs_per_trial=EPOCHS)  # control: killed in the middle of a trial
        workers = children(parent.pid)
        assert len(workers) >= 2
        parent.send_signal(number)
        expected = -signal.SIGKILL if number == signal.SIGKILL else 128 + number
        assert parent.wait(timeout=EXIT_WAIT) == expected  # control: the parent really died (or exited as told)
        assert still_alive(workers, seconds=EXIT_WAIT) == []
    finally:
        kill_all([parent.pid, *workers])
    after = trials(journal(folder))
    time.sleep(1)  # a worker left alive would write again within a trial step; none may
    assert len(trials(journal(folder))) == len(after) and trials(journal(folder)) == after
    assert [t.number for t in after if t.state.name == "RUNNING"] == []
    stopped = after[mid.number]
    why = "the parent process died" if number == signal.SIGKILL else "interrupted by SIGTERM"
    assert stopped.state.name == "FAIL" and stopped.user_attrs["reason"] == f"stopped: {why}"
    assert epochs(stopped) < EPOCHS  # it stopped mid-training, it did not run to the end
    if number != signal.SIGKILL:
        assert f"interrupted by {number.name}" in (folder / "out.txt").read_text()


@pytest.mark.slow
def test_control_a_worker_without_the_watch_outlives_its_killed_parent(folder: Path) -> None:
    parent = start_search(folder, *ARGS, unwatched=True)
    workers: list[int] = []
    try:
        training(journal(folder), epochs_per_trial=EPOCHS)
        workers = children(parent.pid)
        parent.send_signal(signal.SIGKILL)
        assert parent.wait(timeout=EXIT_WAIT) == -signal.SIGKILL
        at_kill = written(journal(folder))
        deadline = time.monotonic() + 120
        while written(journal(folder)) == at_kill and time.monotonic() < deadline:
            time.sleep(0.2)
        assert written(journal(folder)) > at_kill  # the orphans go on training and writing to the study
        assert still_alive(workers, seconds=0) != []
    finally:
        kill_all([parent.pid, *workers])


def written(path: Path) -> int:
    """How much the study holds: trials and their epochs (it grows with every epoch a worker records)."""
    found = trials(path)
    return len(found) + sum(epochs(trial) for trial in found)


@pytest.mark.parametrize("place", ["training", "claiming"])
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda n: n.name)
def test_a_signal_to_a_one_worker_search_fails_its_running_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: signal.Signals, place: str
) -> None:
    """Wherever the signal lands (in the trainer, or between creating a trial and sampling its point, under the
    claim lock), the trial this worker owns is failed as stopped, and the handlers are put back."""
    running_then: list[int] = []
    handler = signal.getsignal(number)

    def signalled(*args: Any, **kwargs: Any) -> None:
        study = optuna.load_study(study_name="tiny", storage=open_storage(config.storage))  # no lock: one is held
        running_then.append(sum(t.state.name == "RUNNING" for t in study.trials))
        os.kill(os.getpid(), number)
        time.sleep(30)  # the signal interrupts this: the trial never gets further

    config = make_config(tmp_path, trials=3, **({"trainer": signalled} if place == "training" else {}))
    if place == "claiming":
        monkeypatch.setattr(archgen.search.claim, "suggest", signalled)
    with pytest.raises(Stopped) as caught:
        optimize(config)
    assert caught.value.exit_code == 128 + number and running_then == [1]  # control: it stopped a RUNNING trial
    [trial] = open_study(config).trials
    assert trial.state.name == "FAIL" and trial.user_attrs["reason"] == f"stopped: interrupted by {number.name}"
    assert signal.getsignal(number) == handler  # the search's handlers are gone with it
