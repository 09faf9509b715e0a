"""A run folder read back (torch-free): the names of its files, its epochs (metrics.jsonl), its summary and its spec,
for comparing and reporting runs. Reads files only; never trains or builds anything.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archgen.analysis.limits import MAX_PARAMS
from archgen.errors import ArchgenError, RunError, first_line, printable
from archgen.files import Limit, read_if_present
from archgen.spec import read_spec
from archgen.spec.document import MAX_FILE_BYTES
from archgen.spec.schema import MAX_CLASSES, MAX_EPOCHS, NetSpec
from archgen.training.events import EpochMetrics

VERSION = importlib.metadata.version("archgen")  # recorded in every run folder's spec.toml and summary.json
SPEC, METRICS, SUMMARY, WEIGHTS, CHECKPOINTS, CURVES, DATA = (
    "spec.toml", "metrics.jsonl", "summary.json", "weights.safetensors", "checkpoints", "curves.png", "data.json"
)
EVENTS = "tensorboard"  # the folder of TensorBoard's event files (in a run folder, and a study's, one per trial)

# What each file a run writes can legitimately hold: what `compare`, `report`, a resume and the search read back.
ESCAPED = 6  # JSON's most bytes for one byte of a name: `\u00XX` (a control byte, or one that is no UTF-8)
NAME_BYTES = 255  # a class's folder name, as the file system allows (NAME_MAX)
METRICS_LIMIT = Limit(MAX_EPOCHS * 512, f"a run's {METRICS} ({MAX_EPOCHS:,} epochs of 512-byte lines)")
SUMMARY_LIMIT = Limit(ESCAPED * MAX_FILE_BYTES + 2**16, f"a run's {SUMMARY} (its fields and one error message, "
                                                        f"at most a whole spec file's problems, escaped)")
DATA_LIMIT = Limit(MAX_CLASSES * (ESCAPED * NAME_BYTES + 4) + 2**16,
                   f"a run's {DATA} ({MAX_CLASSES:,} class names of {NAME_BYTES} bytes, escaped)")
SPEC_LIMIT = Limit(MAX_FILE_BYTES, f"a {SPEC} (a spec file)")
WEIGHTS_LIMIT = Limit(8 * MAX_PARAMS + 2**26, f"a network's weights ({MAX_PARAMS:,} float32 parameters, as many "
                                                "buffer values, and a header)")


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


def read_metrics(path: Path) -> tuple[EpochMetrics, ...]:
    """The epochs a run folder records. A torn last line (a crash mid-write) is ignored; any other line that is
    not an epoch record, whatever its bytes, is a RunError naming the file and line."""
    file = path / METRICS
    data = read_if_present(file, METRICS_LIMIT)
    if data is None:
        raise RunError(f"{printable(str(path))}: not a run folder (no {METRICS})")
    lines = data.split(b"\n")
    metrics = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            metrics.append(EpochMetrics.parse(line))
        except ValueError as error:
            if number == len(lines):  # the last line, unterminated: a write torn by a crash
                continue
            raise RunError(f"{printable(str(file))}:{number}: not an epoch record ({printable(str(error))})") from None
    return tuple(metrics)


def read_summary(path: Path) -> dict[str, Any]:
    """summary.json, or {} while the run has none yet; any other bytes are a RunError naming the file."""
    return read_object(path / SUMMARY, SUMMARY_LIMIT, "a run summary") or {}


def read_object(file: Path, limit: Limit, what: str) -> dict[str, Any] | None:
    """A JSON object a run (or a study) wrote, read within `limit`; None when the file is not there yet. Any
    other bytes are a RunError naming the file."""
    data = read_if_present(file, limit)
    if data is None:
        return None
    try:
        record = json.loads(data)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RunError(f"{printable(str(file))}: unreadable ({printable(first_line(error))})") from None
    if not isinstance(record, dict):
        raise RunError(f"{printable(str(file))}: not {what} (a JSON object)")
    return record
