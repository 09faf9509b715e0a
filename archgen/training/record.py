"""A run folder read back (torch-free): the names of its files, its epochs (metrics.jsonl), its summary and its spec,
for comparing and reporting runs. Reads files only; never trains or builds anything.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archgen.errors import ArchgenError, RunError, printable
from archgen.files import describe
from archgen.spec import read_spec
from archgen.spec.schema import NetSpec
from archgen.training.events import EpochMetrics

VERSION = importlib.metadata.version("archgen")  # recorded in every run folder's spec.toml and summary.json
SPEC, METRICS, SUMMARY, WEIGHTS, CHECKPOINTS, CURVES, DATA = (
    "spec.toml", "metrics.jsonl", "summary.json", "weights.safetensors", "checkpoints", "curves.png", "data.json"
)


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
    if not file.is_file():
        raise RunError(f"{printable(str(path))}: not a run folder (no {METRICS})")
    try:
        lines = file.read_bytes().split(b"\n")
    except OSError as error:
        raise RunError(f"cannot read {printable(str(file))}: {describe(error)}") from None
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
    try:
        data = json.loads((path / SUMMARY).read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RunError(f"{printable(str(path / SUMMARY))}: unreadable ({printable(str(error))})") from None
    if not isinstance(data, dict):
        raise RunError(f"{printable(str(path / SUMMARY))}: not a run summary (a JSON object)")
    return data
