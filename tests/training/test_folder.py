"""Run folders: unique names, one process at a time, metrics rewritten whole, torn lines and leftovers ignored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archgen.errors import RunError
from archgen.training import EpochMetrics, RunFolder, load_latest, read_metrics


def test_names_never_collide(tmp_path: Path) -> None:
    first, second = RunFolder.create(tmp_path, "net"), RunFolder.create(tmp_path, "net")
    assert first.path != second.path and first.path.name.startswith("net-") and second.path.name.endswith("-2")


def test_one_process_at_a_time(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path, "net")
    with run, pytest.raises(RunError, match="is in use by another archgen process"), RunFolder(run.path):
        pass
    with RunFolder(run.path):  # released
        pass


def test_metrics_are_rewritten_whole_and_a_torn_line_is_ignored(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path, "net")
    history = tuple(EpochMetrics(epoch, 1.0, 0.5, 1.0, 0.5, 0.1, 10.0, 1.0, 100) for epoch in (1, 2, 3))
    run.write_metrics(history)
    run.write_metrics(history[:2])  # a resumed run goes back to its checkpoint's epochs
    assert read_metrics(run.path) == history[:2]
    with open(run.path / "metrics.jsonl", "a") as file:
        file.write('{"epoch": 3, "train_lo')  # a crash mid-line in some other writer
    assert read_metrics(run.path) == history[:2]


def test_open_needs_a_spec(tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"not a run folder \(expected .*spec.toml"):
        RunFolder.open(tmp_path)


def test_half_written_checkpoints_are_invisible(tmp_path: Path) -> None:
    """A kill during a save leaves a `.step-….partial` folder or a `.…tmp` file: neither is ever loaded."""
    (tmp_path / ".step-000000009.partial").mkdir()
    (tmp_path / ".step-000000009.partial" / "weights.safetensors").write_bytes(b"half")
    (tmp_path / f".manifest.json.{os.getpid()}.tmp").write_bytes(b"{")
    assert load_latest(tmp_path).state is None and load_latest(tmp_path).skipped == ()


def test_disk_space_is_checked_before_training(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path, "net")
    with pytest.raises(RunError, match=r"bytes free, a checkpoint needs about .*\(No space left on device, errno 28"):
        run.check_space(2**62)
    run.check_space(1000)
