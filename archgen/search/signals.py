"""How a search process is told to stop: SIGINT, SIGTERM and SIGHUP, and for a spawned worker its parent's death.

Each becomes one `Stopped` exception in the main thread, raised at once (a trial in the middle of training
stops at its next Python step, it does not run to the end); the worker loop then fails its running trial.
Knows nothing of studies or trials.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_SIGNAL_BASE = 128  # a process stopped by signal N exits with 128 + N, as a shell reports it
PARENT_GRACE = 5.0
"""Seconds a worker whose parent died has to fail its trial before it exits regardless (a storage may hang)."""

_PARENT_DIED = threading.Event()  # a fact about this process, set once by the parent watch


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
