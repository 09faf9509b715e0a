"""Process trees for the parent-death tests: `archgen search --workers N` started as a user starts it (its own
session, real training), its processes found by pid, the study read as it grows, and the control's workers that
run without their parent watch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

SEARCH = """
import sys
sys.path.insert(0, {here!r})
if {unwatched}:
    import search_processes
    search_processes.unwatch_workers()
from archgen.cli import main
main({args!r})
"""


def start_search(folder: Path, *args: str, unwatched: bool = False) -> subprocess.Popen[bytes]:
    """`archgen ARGS` in `folder`, a session leader (a signal sent to it reaches it alone, not its workers)."""
    code = SEARCH.format(here=str(Path(__file__).parent), unwatched=unwatched, args=list(args))
    with (folder / "out.txt").open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", code], cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def unwatch_workers() -> None:
    """In the parent, before it spawns: its workers run archgen's worker without the parent watch (the control)."""
    import archgen.search.workers as workers

    workers._worker_main = worker_without_watch


def worker_without_watch(config: Any, index: int, errors: Any) -> None:
    """archgen's worker as it was before workers watched their parent (a module-level function, for spawn)."""
    import archgen.search.workers as workers

    workers.die_with_parent = lambda **_: None  # type: ignore[assignment]
    workers._worker_main(config, index, errors)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (its workers and multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _stat(int(entry.name))[1:2] == [str(pid)]:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie nobody has reaped yet does not)."""
    state = _stat(pid)[:1]
    return bool(state) and state[0] not in ("Z", "X")


def _stat(pid: int) -> list[str]:
    """State, parent pid, … of /proc/PID/stat (the fields after the command's name); [] if there is no such pid."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]).split()
    except (OSError, IndexError):
        return []


def still_alive(pids: list[int], *, seconds: float) -> list[int]:
    """The `pids` still running after waiting up to `seconds` for all of them to end."""
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def trials(journal: Path) -> list[optuna.trial.FrozenTrial]:
    """The study's trials as plain Optuna reads them now ([] before the study exists)."""
    if not journal.exists():
        return []
    storage = JournalStorage(JournalFileBackend(str(journal)))
    studies = optuna.get_all_study_summaries(storage, include_best_trial=False)
    return optuna.load_study(study_name=studies[0].study_name, storage=storage).trials if studies else []


def epochs(trial: optuna.trial.FrozenTrial) -> int:
    return len(trial.user_attrs.get("history") or [])


def training(journal: Path, *, epochs_per_trial: int, seconds: float = 180) -> optuna.trial.FrozenTrial:
    """A trial in the middle of its training (RUNNING, some epochs done, not all), once there is one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        running = [t for t in trials(journal) if t.state.name == "RUNNING" and 0 < epochs(t) < epochs_per_trial]
        if running:
            return running[0]
        time.sleep(0.2)
    raise AssertionError(f"no trial of {journal} was ever in the middle of its training")
