"""Checkpoints on disk: round trip, the newest two kept, extra files kept and checked, a write error named.

Damaged, half-written and planted checkpoints are the fault battery's: tests/faults/test_train_*.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from train_states import sample_state

from archgen.errors import RunError
from archgen.training import load_latest, save_checkpoint
from archgen.training.checkpoints import MANIFEST


def test_round_trip(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, sample_state(12))
    loaded = load_latest(tmp_path)
    assert loaded.state is not None and loaded.skipped == () and loaded.path == tmp_path / "step-000000012"
    assert torch.equal(loaded.state.weights["layer.weight"], sample_state(12).weights["layer.weight"])
    assert loaded.state.rest()["optimizer"]["param_groups"] == sample_state(12).optimizer["param_groups"]
    assert (loaded.state.totals, loaded.state.history) == (sample_state(12).totals, sample_state(12).history)
    assert torch.equal(loaded.state.rng["torch"], sample_state(12).rng["torch"])


def test_keeps_the_newest_two(tmp_path: Path) -> None:
    for updates in (3, 7, 11, 15):
        save_checkpoint(tmp_path, sample_state(updates))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["step-000000011", "step-000000015"]


def test_no_checkpoint_yet(tmp_path: Path) -> None:
    assert load_latest(tmp_path / "none").state is None


def test_extra_files_are_kept_and_checked(tmp_path: Path) -> None:
    saved = save_checkpoint(tmp_path, sample_state(4), extra={"spec.toml": b"name = 'x'\n"})
    assert (saved / "spec.toml").read_bytes() == b"name = 'x'\n"
    manifest = json.loads((saved / MANIFEST).read_text())
    assert manifest["sha256"]["spec.toml"] == hashlib.sha256(b"name = 'x'\n").hexdigest()
    (saved / "spec.toml").write_bytes(b"name = 'y'\n")
    assert load_latest(tmp_path).state is None


def test_read_only_folder_names_path_and_errno(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    expected = r"cannot write checkpoint .*step-000000003: Permission denied \(errno 13, EACCES\)"
    with pytest.raises(RunError, match=expected):
        save_checkpoint(tmp_path, sample_state(3))
