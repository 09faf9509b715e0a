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
    assert "| resnet20 | 16 | float32 |" in result.stdout and "| resnet50-v1.5 | 4 | bf16 |" in result.stdout
    rows = json.loads((tmp_path / "r.json").read_text())
    assert len(rows) == 4 and all(row["images_per_second"] > 0 for row in rows)
