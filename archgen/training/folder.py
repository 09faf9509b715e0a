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
from typing import Any

from archgen.errors import RunError, printable
from archgen.files import describe, ensure_folder, open_lock, read_bounded, write_atomic
from archgen.spec import read_spec
from archgen.spec.schema import NetSpec
from archgen.spec.writer import dump_spec
from archgen.training.checkpoints import Loaded, load_latest, save_checkpoint
from archgen.training.events import EpochMetrics
from archgen.training.record import (
    CHECKPOINTS,
    DATA,
    DATA_LIMIT,
    EVENTS,
    METRICS,
    SPEC,
    SPEC_LIMIT,
    SUMMARY,
    WEIGHTS,
    read_metrics,
    read_object,
    read_summary,
)
from archgen.training.state import TrainState

LOCK = ".lock"


class RunFinished(RunError):
    """`--resume` of a run that is finished: nothing to do, nothing touched (the CLI says so and exits 0)."""


@dataclass
class RunFolder:
    """One run's files. Hold it with `with run:` while training (a second process gets a clear error)."""

    path: Path
    _lock: int | None = None
    """The lock file's descriptor while held."""

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
            self._lock = open_lock(self.path / LOCK)  # held until __exit__; a planted link or FIFO is refused
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.__exit__()
            raise RunError(f"{self.path} is in use by another archgen process") from None
        except OSError as error:
            self.__exit__()
            raise RunError(f"cannot write to {self.path}: {describe(error)}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            os.close(self._lock)
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
        """Fail before training when any folder a run writes to cannot take new files: the run folder, its
        checkpoints and its TensorBoard events (read-only, permissions, or a file, FIFO or link in a folder's
        place: a link is never followed)."""
        for folder in (self.path, self.path / CHECKPOINTS, self.path / EVENTS):
            try:
                if folder != self.path:
                    ensure_folder(folder)
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

    def write_json(self, name: str, record: dict[str, Any]) -> None:
        """A record of the run as JSON: data.json (what it trains on, for resumes to check), init.json, …"""
        write_atomic(self.path / name, (json.dumps(record, indent=1) + "\n").encode())

    def write_weights(self, weights: bytes) -> None:
        write_atomic(self.path / WEIGHTS, weights)

    def save_checkpoint(self, state: TrainState, *, keep: int = 2) -> Path:
        """A checkpoint of `state` with a copy of spec.toml as it was, so a resume can tell whether it was edited."""
        folder = self.path / CHECKPOINTS
        try:
            ensure_folder(folder)
        except OSError as error:
            raise RunError(f"cannot create {folder}: {describe(error)}") from None
        spec = read_bounded(self.path / SPEC, SPEC_LIMIT)
        return save_checkpoint(folder, state, keep=keep, extra={SPEC: spec})

    # --- what a resume may do ---------------------------------------------------------------------

    def check_unfinished(self) -> None:
        """A finished run (its final weights written) is not resumed: a resume would replace what it finished."""
        if os.path.lexists(self.path / WEIGHTS):
            epochs = len(self.metrics()) if (self.path / METRICS).exists() else "all"
            raise RunFinished(f"{self._shown} is finished ({epochs} epochs, {WEIGHTS} written): there is nothing "
                              f"to resume; to train it further, start a new run from its weights: archgen train "
                              f"{self._shown}/{SPEC} --init {self._shown}/{WEIGHTS} --epochs N")

    def check_nothing_recorded(self) -> None:
        """Refuse to start a run over while its metrics.jsonl records epochs (its checkpoints were removed)."""
        if not (self.path / METRICS).exists():
            return
        epochs = len(self.metrics())
        if epochs:
            raise RunError(f"{self._shown} has no checkpoint left but {METRICS} records {epochs} epoch"
                           f"{'s' if epochs != 1 else ''}: resuming would start over and replace them; train its "
                           f"spec as a new run instead: archgen train {self._shown}/{SPEC}")

    @property
    def _shown(self) -> str:
        return printable(str(self.path))

    # --- reading -------------------------------------------------------------------------------

    def latest_checkpoint(self) -> Loaded:
        return load_latest(self.path / CHECKPOINTS)

    def spec_path(self) -> Path:
        return self.path / SPEC

    def spec(self) -> NetSpec:
        """The spec and recipe the run trains, as its spec.toml says."""
        return read_spec(self.path / SPEC)  # the language only: runs may not import analysis; training checked the size

    def metrics(self) -> tuple[EpochMetrics, ...]:
        return read_metrics(self.path)

    def has_metrics(self) -> bool:
        return (self.path / METRICS).exists()

    def data_record(self) -> dict[str, Any] | None:
        """data.json as written when the run began (None for runs from before archgen recorded it)."""
        return read_object(self.path / DATA, DATA_LIMIT, "a data record")

    def summary(self) -> dict[str, Any]:
        return read_summary(self.path)


def environment() -> dict[str, Any]:
    """What a summary records about where it ran."""
    return {"pid": os.getpid(), "host": os.uname().nodename}
