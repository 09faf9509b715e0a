"""Is a RUNNING trial's worker still alive? Heartbeats while a trial runs, and failing (then retrying) stale trials.

RDB storages use Optuna's heartbeats and `fail_stale_trials`. The journal file has none (a SIGKILLed
worker leaves its trial RUNNING forever), so archgen keeps one heartbeat file per worker beside the
journal. On every storage a trial whose worker ran on this host and whose pid is gone is stale at once.
"""

from __future__ import annotations

import contextlib
import copy
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from archgen.search.outcome import OUTCOME, REASON, WORKER
from archgen.search.storage import MAX_RETRY, StorageSpec


@dataclass(frozen=True)
class Worker:
    """One process taking part in a study."""

    host: str
    pid: int

    @property
    def label(self) -> str:
        return f"{self.host}:{self.pid}"

    @staticmethod
    def this() -> Worker:
        return Worker(socket.gethostname(), os.getpid())

    @staticmethod
    def parse(label: object) -> Worker | None:
        if not isinstance(label, str) or ":" not in label:
            return None
        host, _, pid = label.rpartition(":")
        return Worker(host, int(pid)) if pid.isdigit() else None


def heartbeat_file(spec: StorageSpec, worker: Worker) -> Path | None:
    if spec.journal is None:
        return None
    return spec.journal.parent / "workers" / f"{worker.host}-{worker.pid}"


@contextlib.contextmanager
def heartbeat(spec: StorageSpec, study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Beat while the body runs: Optuna's heartbeat on RDB storages, this worker's file on the journal."""
    worker = Worker.this()
    path = heartbeat_file(spec, worker)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(spec.heartbeat_interval):
            if path is not None:
                path.touch()
            else:
                study._storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]  # RDB: BaseHeartbeat

    if path is None:
        study._storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
    thread = threading.Thread(target=beat, name="archgen-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def reap_stale(study: optuna.Study, spec: StorageSpec) -> list[int]:
    """Fail every RUNNING trial whose worker is gone, and queue its point again; the trial numbers failed.

    Call under the claim lock, so two workers never fail (and retry) the same trial.
    """
    if spec.journal is None:
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        optuna.storages.fail_stale_trials(study)  # Optuna's heartbeat rule, and its retry callback
        after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        reaped = sorted(before - after)
    else:
        reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = _stale_reason(trial, spec)
        if reason is not None:
            _fail_and_retry(study, trial, reason)
            reaped.append(trial.number)
    return reaped


def fail_own(study: optuna.Study, reason: str) -> list[int]:
    """Fail every RUNNING trial this process owns, with `reason`; the trial numbers failed.

    Called by a worker that is stopping, wherever the stop found it (training, rejecting, claiming): its trials
    are read back from the study rather than remembered, so none is left RUNNING by a stop between two lines.
    Call under the claim lock, as `reap_stale`, so that no other worker fails (and retries) the same trial.
    """
    label, failed = Worker.this().label, []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(WORKER) == label and _fail(study, trial, reason):
            failed.append(trial.number)
    return failed


def _stale_reason(trial: optuna.trial.FrozenTrial, spec: StorageSpec) -> str | None:
    worker = Worker.parse(trial.user_attrs.get(WORKER))
    started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
    if worker is None:  # killed between creating the trial and naming its worker
        return "its worker vanished before it started" if time.time() - started > spec.grace_period else None
    if worker.host == socket.gethostname() and not _alive(worker.pid):
        return f"its worker {worker.label} died"
    path = heartbeat_file(spec, worker)
    if path is None:
        return None  # RDB: Optuna's heartbeat decides for other hosts
    try:
        last = path.stat().st_mtime
    except FileNotFoundError:
        last = started
    if time.time() - last > spec.grace_period:
        return f"its worker {worker.label} sent no heartbeat for {time.time() - last:.0f} s"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fail_and_retry(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str) -> None:
    if not _fail(study, trial, f"stale: {reason}"):
        return  # its worker finished it after all
    failed = copy.deepcopy(study._storage.get_trial(trial._trial_id))
    RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, failed)


def _fail(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str) -> bool:
    """Tell a RUNNING trial FAIL with its reason; False if it had finished meanwhile."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, OUTCOME, "failed")
        storage.set_trial_user_attr(trial._trial_id, REASON, reason)
        return bool(storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
