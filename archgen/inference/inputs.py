"""What using a trained net checks before torch loads (torch-free): that RUN is a run folder, and a record file given
instead of the run's own, so a mistyped path answers in one line at once."""

from __future__ import annotations

from pathlib import Path

from archgen.errors import RunError, printable
from archgen.training.preprocessing import Preprocessing, read_record
from archgen.training.record import SPEC


def check_run(folder: Path) -> None:
    """A run folder holds the spec.toml a run writes first."""
    shown = printable(str(folder))
    if not folder.is_dir():
        raise RunError(f"{shown}: no such run folder")
    if not (folder / SPEC).is_file():
        raise RunError(f"{shown}: not a run folder (no {SPEC}, which a run writes when it starts)")


def given_record(path: str | Path | Preprocessing | None) -> Preprocessing | None:
    """The record a user passes for a run that has none (its sha256 and steps may be left out), read and checked."""
    if path is None or isinstance(path, Preprocessing):
        return path
    return read_record(Path(path), sealed=False)
