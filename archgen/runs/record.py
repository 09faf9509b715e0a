"""A finished (or interrupted) run read back: its spec, its epochs and its summary, for comparing runs.

Reads files only; never trains or builds anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archgen.errors import ArchgenError, RunError
from archgen.runs.folder import SPEC, read_metrics, read_summary
from archgen.spec import read_spec
from archgen.spec.schema import NetSpec
from archgen.train.metrics import EpochMetrics


@dataclass(frozen=True)
class RunRecord:
    """What one run folder says about itself."""

    path: Path
    spec: NetSpec
    history: tuple[EpochMetrics, ...]
    summary: dict[str, Any]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def status(self) -> str:
        return str(self.summary.get("status", "running or killed"))


def read_run(path: Path) -> RunRecord:
    """Read `path`'s spec.toml, metrics.jsonl and summary.json; a clear error if it is not a run folder."""
    if not path.is_dir():
        raise RunError(f"{path}: no such run folder")
    if not (path / SPEC).is_file():
        raise RunError(f"{path}: not a run folder (expected {path / SPEC})")
    try:
        spec = read_spec(path / SPEC)  # the language only: runs may not import analysis; training checked the size
    except ArchgenError as error:
        raise RunError(f"{path / SPEC}: {error}") from None
    return RunRecord(path, spec, read_metrics(path), read_summary(path))
