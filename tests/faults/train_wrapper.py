"""`python train_wrapper.py [FAULT ...] -- ARGS`: runs `archgen ARGS` with faults planted from outside the product.

The product has no test hooks: this launcher wraps a few of archgen's own functions before the CLI starts,
so a fault lands at an exact point (a given optimiser update, the middle of a checkpoint file) every time.
Faults (--after-save may repeat):
  --kill-at-update N          SIGKILL this process right after optimiser update N (1-based)
  --kill-in-write K:FILE:HOW  during the K-th checkpoint save, SIGKILL while writing FILE (weights.safetensors,
                              state.pt, manifest.json): HOW = half (half its bytes in the temporary file) or
                              replace (the temporary file complete, before it is renamed over FILE);
                              FILE = folder: every file staged, before the folder is renamed into place
  --after-save K:ACTION       right after the K-th checkpoint save: delete-newest (remove the checkpoint just
                              written, as a user might mid-run) or fsize=BYTES (a real RLIMIT_FSIZE from then on)
  --wait-at-update N:PATH     right after update N, create PATH and wait for a line on stdin (a signal sent
                              meanwhile lands at exactly that step)
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import shutil
import signal
import sys
from typing import Any


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def at_update(update: int, action: Any) -> None:
    """Call `action()` right after optimiser update `update` (1-based), wrapping archgen's training step."""
    from archgen.training import steps

    real = steps.EagerStep.__call__
    done = 0

    def step(*args: Any, **kwargs: Any) -> Any:
        nonlocal done
        result = real(*args, **kwargs)
        done += 1
        if done == update:
            action()
        return result

    steps.EagerStep.__call__ = step  # type: ignore[method-assign]


def wait_here(marker: str) -> None:
    """Create `marker` and wait for a line on stdin: a signal sent meanwhile lands at exactly this step."""
    pathlib.Path(marker).touch()
    sys.stdin.readline()  # a signal arriving now runs archgen's handler; the read then goes on


class _Counter:
    """Counts checkpoint saves (runs.folder calls runs.checkpoints.save_checkpoint once per save)."""

    saves = 0


def count_saves() -> None:
    from archgen.training import folder

    real = folder.save_checkpoint

    def save(*args: Any, **kwargs: Any) -> Any:
        _Counter.saves += 1
        result = real(*args, **kwargs)
        for action in AFTER_SAVE.get(_Counter.saves, ()):
            action(result)
        return result

    folder.save_checkpoint = save


AFTER_SAVE: dict[int, list[Any]] = {}


def kill_in_write(save: int, name: str, how: str) -> None:
    from archgen import files as atomic

    if name == "folder":
        real_rename = pathlib.Path.rename

        def rename(self: pathlib.Path, target: Any) -> Any:
            if _Counter.saves == save and self.name.endswith(".partial"):
                die()  # every file staged and synced; the folder not yet renamed to step-N
            return real_rename(self, target)

        pathlib.Path.rename = rename  # type: ignore[method-assign]
        return

    def targeted(path: Any) -> bool:
        path = pathlib.Path(path)
        return _Counter.saves == save and path.parent.name.endswith(".partial") and name in path.name

    if how == "half":  # archgen's own write_atomic runs; its file dies half written
        real_open = open

        class HalfFile:
            def __init__(self, file: Any) -> None:
                self.file = file

            def __enter__(self) -> HalfFile:
                return self

            def __exit__(self, *exc: object) -> None:
                self.file.close()

            def write(self, data: bytes) -> int:
                self.file.write(data[: len(data) // 2])
                self.file.flush()
                os.fsync(self.file.fileno())
                die()
                return 0

        def half_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            file = real_open(path, mode, *args, **kwargs)
            return HalfFile(file) if "w" in mode and targeted(path) else file

        atomic.open = half_open  # type: ignore[attr-defined]  # shadows the builtin in that module only
    else:
        real_replace = os.replace

        def replace(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
            if targeted(target):
                die()  # the temporary file is complete and synced; the rename never happens
            real_replace(source, target, *args, **kwargs)

        atomic.os.replace = replace  # type: ignore[assignment]


def after_save(save: int, action: str) -> None:
    if action == "delete-newest":
        AFTER_SAVE.setdefault(save, []).append(lambda path: shutil.rmtree(path))
    elif action.startswith("fsize="):
        limit = int(action.removeprefix("fsize="))
        AFTER_SAVE.setdefault(save, []).append(
            lambda path: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        )
    else:
        raise SystemExit(f"unknown --after-save action {action!r}")


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-at-update", type=int)
    parser.add_argument("--kill-in-write")
    parser.add_argument("--after-save", action="append", default=[])
    parser.add_argument("--wait-at-update")
    faults = parser.parse_args(argv[:split])
    count_saves()
    if faults.kill_at_update is not None:
        at_update(faults.kill_at_update, die)
    if faults.kill_in_write:
        save, name, how = faults.kill_in_write.split(":")
        kill_in_write(int(save), name, how)
    for item in faults.after_save:
        save, action = item.split(":", 1)
        after_save(int(save), action)
    if faults.wait_at_update:
        update, marker = faults.wait_at_update.split(":", 1)
        at_update(int(update), lambda: wait_here(marker))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit gives EFBIG, as a full disk gives ENOSPC

    from archgen.cli import main as archgen

    archgen(argv[split + 1 :])


if __name__ == "__main__":
    main()
