"""Is a worker alive, and how is it stopped: heartbeats while a trial runs, stale trials failed (then retried), a
stopping worker's own trials failed, and the signals (or a parent's death) that stop a search process.

RDB storages use Optuna's heartbeats and `fail_stale_trials`. The journal file has none (a SIGKILLed worker leaves its
trial RUNNING forever), so archgen keeps one heartbeat file per worker beside the journal. On every storage a trial
whose worker ran on this host and whose pid is gone is stale at once. SIGINT, SIGTERM and SIGHUP, and for a spawned
worker its parent's death, each become one `Stopped` exception in the main thread, raised at once (a trial in the
middle of training stops at its next Python step); the worker loop then fails its running trial.
"""

from __future__ import annotations

import contextlib
import copy
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from archgen.files import ensure_folder
from archgen.search.optuna_internals import fail_trial, record_heartbeat
from archgen.search.record import OUTCOME, REASON, WORKER
from archgen.search.storage import MAX_RETRY, StorageSpec

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_SIGNAL_BASE = 128  # a process stopped by signal N exits with 128 + N, as a shell reports it
PARENT_GRACE = 5.0
"""Seconds a worker whose parent died has to fail its trial before it exits regardless (a storage may hang)."""

_PARENT_DIED = threading.Event()  # a fact about this process, set once by the parent watch


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
def heartbeat(spec: StorageSpec, study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Beat while the body runs: Optuna's heartbeat on RDB storages, this worker's file on the journal."""
    worker = Worker.this()
    path = heartbeat_file(spec, worker)
    if path is not None:
        ensure_folder(path.parent, parents=True)  # a link planted at the name is refused, never followed
        path.touch()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(spec.heartbeat_interval):
            if path is not None:
                path.touch()
            else:
                record_heartbeat(study, trial)

    if path is None:
        record_heartbeat(study, trial)
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
        if trial.user_attrs.get(WORKER) == label and fail_trial(study, trial, {OUTCOME: "failed", REASON: reason}):
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
    if not fail_trial(study, trial, {OUTCOME: "failed", REASON: f"stale: {reason}"}):
        return  # its worker finished it after all
    # the trial as failed now, the retry's template (Optuna's callback copies its params and marks the retry)
    failed = copy.deepcopy(next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number))
    RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, failed)


# --- stopping a search process ------------------------------------------------------------------------------


class Stopped(Exception):
    """This process was asked to stop in the middle of a search: by a signal, or by its parent's death."""

    def __init__(self, reason: str, *, signal_number: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        return EXIT_SIGNAL_BASE + self.signal_number


class _RaiseOnce:
    """The handler: the first signal raises Stopped; later ones are ignored, so that the cleanup the first one
    started (failing the running trial, stopping the workers) is not itself interrupted half way."""

    def __init__(self) -> None:
        self.raised = False

    def __call__(self, number: int, frame: FrameType | None) -> None:
        if self.raised:
            return
        self.raised = True
        if _PARENT_DIED.is_set():
            raise Stopped("the parent process died", signal_number=number)
        raise Stopped(f"interrupted by {signal.Signals(number).name}", signal_number=number)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise `Stopped` (once). Outside the main thread: nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _RaiseOnce()
    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def die_with_parent(*, grace: float = PARENT_GRACE) -> None:
    """From now on, when this process's multiprocessing parent dies, however it dies (SIGKILL, a crash, the OOM
    killer), stop this process as SIGTERM would; if it has not exited `grace` seconds later, exit at once.

    Needs no signal from the parent: a daemon thread waits on the parent's sentinel, a pipe whose write end only
    the parent holds, so the kernel closes it when the parent dies. A process that multiprocessing did not
    start (run by hand) has no such parent and is left alone.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        _PARENT_DIED.set()
        # to the main thread itself: a blocking call there (a sleep, a lock) returns with EINTR and the handler runs
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
        time.sleep(grace)
        os._exit(EXIT_SIGNAL_BASE + signal.SIGTERM)

    threading.Thread(target=watch, name="archgen-parent-watch", daemon=True).start()
