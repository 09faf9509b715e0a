"""A run's folder: `runs/<name>-<time>/` with spec.toml, metrics.jsonl, checkpoints/, weights.safetensors, summary.json.

Creating one checks it can be written before any training starts; one process at a time holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from archgen.errors import RunError
from archgen.runs.atomic import describe, write_atomic
from archgen.runs.checkpoints import Loaded, load_latest, save_checkpoint
from archgen.spec.schema import NetSpec
from archgen.spec.writer import dump_spec
from archgen.train.metrics import EpochMetrics
from archgen.train.state import TrainState

SPEC, METRICS, SUMMARY, WEIGHTS, CHECKPOINTS, CURVES = (
    "spec.toml", "metrics.jsonl", "summary.json", "weights.safetensors", "checkpoints", "curves.png"
)
LOCK = ".lock"


@dataclass
class RunFolder:
    """One run's files. Hold it with `with run:` while training (a second process gets a clear error)."""

    path: Path
    _lock: IO[bytes] | None = None

    @classmethod
    def create(cls, root: Path, name: str) -> RunFolder:
        """A new, empty folder `root/<name>-<YYYYmmdd-HHMMSS>` (a counter is added if that exists)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            root.mkdir(parents=True, exist_ok=True)
            for attempt in range(1, 1000):
                path = root / (f"{name}-{stamp}" if attempt == 1 else f"{name}-{stamp}-{attempt}")
                try:
                    path.mkdir()
                    return cls(path)
                except FileExistsError:
                    continue
        except OSError as error:
            raise RunError(f"cannot create a run folder in {root}: {describe(error)}") from None
        raise RunError(f"cannot create a run folder in {root}: too many runs named {name}-{stamp}")

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """An existing run folder (it must hold the spec.toml a run writes first)."""
        if not (path / SPEC).is_file():
            raise RunError(f"{path}: not a run folder (expected {path / SPEC}, written when a run starts)")
        return cls(path)

    def __enter__(self) -> RunFolder:
        try:
            self._lock = open(self.path / LOCK, "ab")  # held until __exit__
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(f"{self.path} is in use by another archgen process") from None
        except OSError as error:
            raise RunError(f"cannot write to {self.path}: {describe(error)}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- writing -------------------------------------------------------------------------------

    def check_space(self, needed: int) -> None:
        """Fail before training when a checkpoint of `needed` bytes cannot fit (free disk space, file-size limit)."""
        free = shutil.disk_usage(self.path).free
        limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if free < 2 * needed:
            raise RunError(f"cannot write checkpoints in {self.path}: {free:,} bytes free, a checkpoint needs about "
                           f"{needed:,} (No space left on device, errno 28, ENOSPC)")
        if limit != resource.RLIM_INFINITY and limit < needed:
            raise RunError(f"cannot write checkpoints in {self.path}: the file-size limit (ulimit -f) is {limit:,} "
                           f"bytes, a checkpoint needs about {needed:,} (File too large, errno 27, EFBIG)")

    def check_writable(self) -> None:
        """Fail before training when the folder or its checkpoints cannot take new files (read-only, permissions)."""
        for folder in (self.path, self.path / CHECKPOINTS):
            try:
                folder.mkdir(exist_ok=True)
                with tempfile.TemporaryFile(dir=folder):
                    pass
            except OSError as error:
                raise RunError(f"cannot write to {folder}: {describe(error)}") from None

    def write_spec(self, spec: NetSpec, *, header: str | None = None) -> None:
        write_atomic(self.path / SPEC, dump_spec(spec, defaults=True, header=header).encode())

    def write_metrics(self, history: tuple[EpochMetrics, ...]) -> None:
        """metrics.jsonl, one line per epoch, rewritten whole (so a resumed run never repeats an epoch)."""
        lines = "".join(json.dumps(metrics.to_dict()) + "\n" for metrics in history)
        write_atomic(self.path / METRICS, lines.encode())

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_atomic(self.path / SUMMARY, (json.dumps(summary, indent=2) + "\n").encode())

    def write_weights(self, weights: bytes) -> None:
        write_atomic(self.path / WEIGHTS, weights)

    def save_checkpoint(self, state: TrainState, *, keep: int = 2) -> Path:
        """A checkpoint of `state` with a copy of spec.toml as it was, so a resume can tell whether it was edited."""
        folder = self.path / CHECKPOINTS
        try:
            folder.mkdir(exist_ok=True)
        except OSError as error:
            raise RunError(f"cannot create {folder}: {describe(error)}") from None
        try:
            spec = (self.path / SPEC).read_bytes()
        except OSError as error:
            raise RunError(f"cannot read {self.path / SPEC}: {describe(error)}") from None
        return save_checkpoint(folder, state, keep=keep, extra={SPEC: spec})

    # --- reading -------------------------------------------------------------------------------

    def latest_checkpoint(self) -> Loaded:
        return load_latest(self.path / CHECKPOINTS)

    def spec_path(self) -> Path:
        return self.path / SPEC

    def metrics(self) -> tuple[EpochMetrics, ...]:
        return read_metrics(self.path)

    def summary(self) -> dict[str, Any]:
        return read_summary(self.path)


def read_metrics(path: Path) -> tuple[EpochMetrics, ...]:
    """The epochs a run folder records (a torn last line, from a crash, is ignored)."""
    file = path / METRICS
    if not file.is_file():
        raise RunError(f"{path}: not a run folder (no {METRICS})")
    metrics = []
    for line in file.read_text().splitlines():
        try:
            metrics.append(EpochMetrics.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return tuple(metrics)


def read_summary(path: Path) -> dict[str, Any]:
    """summary.json, or {} while the run has none yet."""
    try:
        data = json.loads((path / SUMMARY).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise RunError(f"{path / SUMMARY}: unreadable ({error})") from None
    return data if isinstance(data, dict) else {}


def environment() -> dict[str, Any]:
    """What a summary records about where it ran."""
    return {"pid": os.getpid(), "host": os.uname().nodename}
