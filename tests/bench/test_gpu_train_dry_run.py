"""bench/gpu_train.py is prepared for a GPU this machine lacks: its --dry-run runs the same code on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
def test_gpu_script_dry_run(tmp_path: Path) -> None:
    command = [sys.executable, str(BENCH / "gpu_train.py"), "--dry-run", "--json", str(tmp_path / "r.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "| resnet20 | 16 | one process |" in result.stdout and "| resnet50-v1.5 | 4 | one process |" in result.stdout
    assert "| resnet20 | 16 | torchrun, 1 process |" in result.stdout
    table = json.loads((tmp_path / "r.json").read_text())
    rows, shared = table["rows"], table["concurrency"]
    assert len(rows) == 3 and all(row["archgen"] > 0 and row["plain"] > 0 for row in rows)
    assert [run["runs"] for run in shared] == [1, 2] and all(len(run["per_run"]) == run["runs"] for run in shared)
