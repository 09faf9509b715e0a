"""The GPU bench's clock: a budget of seconds that says whether a step still fits (naming those that do not), and
child processes that the budget cuts, each with its exit status, wall time and output kept for the report.

Knows nothing of training or of what the children measure; its clock is injectable, so tests need not wait.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KEPT = 6000  # characters of each child's output kept for the report: its tail, where a failure ends
ERROR = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b(: .*)?$")


@dataclass
class Budget:
    """`seconds` from its creation (None: no limit) for the steps of one command."""

    seconds: float | None
    clock: Callable[[], float] = time.monotonic
    skipped: list[str] = field(default_factory=list)
    """Each step that did not fit, with its estimate and what was left."""

    def __post_init__(self) -> None:
        self.began = self.clock()

    def left(self) -> float | None:
        """Seconds left (never below 0); None without a limit."""
        return None if self.seconds is None else max(0.0, self.seconds - (self.clock() - self.began))

    def admits(self, name: str, estimate: float) -> bool:
        """Whether a step estimated at `estimate` seconds still fits; one that does not is named in `skipped`."""
        left = self.left()
        if left is None or estimate <= left:
            return True
        self.skipped.append(f"{name} (about {estimate:.0f} s, {left:.0f} s left)")
        return False


@dataclass(frozen=True)
class Child:
    """A child process that ended: its exit status (None: cut at the budget), wall seconds and output's tail."""

    command: tuple[str, ...]
    returncode: int | None
    seconds: float
    output: str
    """The tail of its stdout and stderr together (the report keeps them: a failure's reason is there)."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def why(self) -> str:
        """One line: why it did not succeed (the first error line of its output, else its last line)."""
        if self.returncode is None:
            return f"cut at the budget after {self.seconds:.0f} s"
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        errors = [line for line in lines if ERROR.match(line)]
        shown = errors[0] if errors else lines[-1] if lines else "no output"
        return f"exit {self.returncode}: {shown}"


def run_children(commands: Sequence[Sequence[str]], budget: Budget, *,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> list[Child]:
    """Run the commands side by side and wait for all; those still running when the budget runs out are killed
    with their whole process group (torchrun's workers, compile workers), and say so."""
    with tempfile.TemporaryDirectory() as folder:
        logs = [Path(folder) / f"{index}.log" for index in range(len(commands))]
        began, running = time.monotonic(), []
        for command, log in zip(commands, logs, strict=True):
            with log.open("wb") as file:  # a file, not a pipe: a chatty child never blocks on a full pipe
                running.append(subprocess.Popen(list(command), stdout=file, stderr=subprocess.STDOUT,
                                                start_new_session=True, env=None if env is None else dict(env),
                                                cwd=cwd))
        children = []
        try:
            for command, process, log in zip(commands, running, logs, strict=True):
                cut = _wait(process, budget)
                children.append(Child(tuple(command), None if cut else process.returncode, time.monotonic() - began,
                                      _tail(log)))
        finally:  # this process stopped (SIGTERM, Ctrl-C): no child outlives it on the GPU
            for process in running:
                _kill(process)
        return children


def _wait(process: subprocess.Popen[bytes], budget: Budget) -> bool:
    """Wait for `process` until the budget runs out, then kill its process group; whether it was cut."""
    try:
        process.wait(timeout=budget.left())
        return False
    except subprocess.TimeoutExpired:
        _kill(process)
        return True


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the process's whole group, unless it ended (its group leader's id is its own)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tail(log: Path) -> str:
    return log.read_bytes()[-KEPT:].decode("utf-8", errors="replace")
