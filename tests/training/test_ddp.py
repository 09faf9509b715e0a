"""`torchrun --nproc-per-node 2 -m archgen train …` on CPU (gloo): each process sees its shard, steps agree, and
only rank 0 writes the run folder."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny import write_tiny_spec


@pytest.mark.slow
def test_two_processes_share_each_epoch(tmp_path: Path) -> None:
    spec = write_tiny_spec(tmp_path / "tiny.toml", epochs=2, batch_size=64)
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "archgen", "train", str(spec), "--device", "cpu", "--out", str(runs)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = runs.iterdir()  # one folder: rank 0 writes, rank 1 only trains
    summary = json.loads((run / "summary.json").read_text())
    per_process = math.ceil(1437 / 2)  # DistributedSampler pads the 1,437 digits to 2 x 719
    assert summary["world_size"] == 2 and summary["batch_per_process"] == 32
    assert summary["samples_per_process"] == per_process
    assert summary["steps_per_epoch"] == math.ceil(per_process / 32) == 23
    assert summary["updates"] == 2 * 23
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["images"] for m in metrics] == [2 * per_process] * 2  # summed over both processes
    assert result.stdout.count("archgen train tiny on digits") == 1 and "× 2 processes" in result.stdout
