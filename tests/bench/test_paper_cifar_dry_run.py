"""scripts/paper_cifar.py is prepared for a GPU this machine lacks: its --dry-run trains the five nets side by side
on a generated image folder (one epoch, CPU) and writes the page from their run folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "paper_cifar.py"


@pytest.mark.slow
def test_paper_cifar_dry_run_writes_the_page_from_real_runs(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "paper-cifar.md").read_text()
    for net, paper in (("plain20", "Fig. 6 only"), ("plain56", "Fig. 6 only"), ("resnet20", "8.75"),
                       ("resnet56", "6.97"), ("resnet110", "6.43")):
        (row,) = [line for line in page.splitlines() if line.startswith(f"| {net} |")]
        assert "| 1 |" in row and paper in row  # one epoch, measured, beside the paper's number
    assert (tmp_path / "img" / "paper-cifar.png").read_bytes()[:4] == b"\x89PNG"
    assert "torch " in page and "commit " in page and "JPEG" in page


def test_the_committed_page_shows_only_measured_numbers_or_says_not_run() -> None:
    page = (SCRIPT.parents[1] / "docs" / "paper-cifar.md").read_text()
    assert "Not run yet." in page or "Written by `scripts/paper_cifar.py` from real runs" in page
    if "Not run yet." in page:
        assert "python scripts/paper_cifar.py --data data/cifar10" in page and "| resnet20 |" not in page
