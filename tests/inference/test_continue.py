"""Continuing a finished run: `--resume` says to start a new run from its weights (not from random ones), and that
one command works: the new run starts from the finished run's weights.safetensors, recorded with their sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from in_process import archgen_here
from pictures import snapshot

pytestmark = pytest.mark.slow


def test_resuming_a_finished_run_points_to_its_weights_and_that_command_works(jpeg_run: Path, tmp_path: Path) -> None:
    before = snapshot(jpeg_run)
    resumed = archgen_here("train", "--resume", str(jpeg_run))
    assert resumed.code == 0  # nothing to do is no error
    advice = f"archgen train {jpeg_run}/spec.toml --init {jpeg_run}/weights.safetensors --epochs N"
    assert f"to train it further, start a new run from its weights: {advice}" in resumed.stdout.replace("\n", "")
    assert snapshot(jpeg_run) == before
    command = [*advice.replace("--epochs N", "--epochs 1").split()[1:], "--out", str(tmp_path)]
    outcome = archgen_here(*command)
    assert outcome.code == 0, outcome.stderr
    (run,) = tmp_path.iterdir()
    init = json.loads((run / "init.json").read_text())
    weights = (jpeg_run / "weights.safetensors").read_bytes()
    assert init["sha256"] == hashlib.sha256(weights).hexdigest() and init["skipped"] == []
    assert (run / "weights.safetensors").is_file() and (run / "preprocessing.json").is_file()
    assert snapshot(jpeg_run) == before
