"""scripts/paper_cifar.py is prepared for GPU slots this machine lacks: its --dry-run trains the nets side by side on
a generated image folder (CPU) with the same flow: chosen nets, a budget (or SIGTERM) that stops every net with a
checkpoint and exits 0, the same command resuming them (also from packed copies, as between slots), a failing net
that stops its siblings and is named, and the page written from the run folders once every net is finished.
Never asserts on a time: the budget here is 0, and the SIGTERM is sent on an event (an epoch recorded)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "paper_cifar.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _paper(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--dry-run", *map(str, args)], capture_output=True, text=True,
                          timeout=900, env=ENV)


def _epochs(out: Path, net: str) -> list[int]:
    (metrics,) = out.glob(f"{net}-*/metrics.jsonl")
    return [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]


@pytest.mark.slow
def test_paper_cifar_dry_run_writes_the_page_from_real_runs(tmp_path: Path) -> None:
    result = _paper("--out", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "paper-cifar.md").read_text()
    for net, paper in (("plain20", "Fig. 6 only"), ("plain56", "Fig. 6 only"), ("resnet20", "8.75"),
                       ("resnet56", "6.97"), ("resnet110", "6.43")):
        (row,) = [line for line in page.splitlines() if line.startswith(f"| {net} |")]
        assert "| 1 |" in row and paper in row  # one epoch, measured, beside the paper's number
        assert f"{net}: 1 of 1 epochs (finished)" in result.stdout
    assert (tmp_path / "img" / "paper-cifar.png").read_bytes()[:4] == b"\x89PNG"
    assert "torch " in page and "commit " in page and "JPEG" in page


@pytest.mark.slow
def test_a_spent_budget_stops_every_net_and_the_same_command_finishes_them(tmp_path: Path) -> None:
    nets = ("--nets", "plain20", "resnet20", "--epochs", "2", "--out", tmp_path)
    stopped = _paper(*nets, "--budget", "0")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert re.search(r"^plain20: 0 of 2 epochs \(stopped", stopped.stdout, re.M), stopped.stdout
    assert re.search(r"^resnet20: 0 of 2 epochs \(stopped", stopped.stdout, re.M), stopped.stdout
    assert "unfinished: continue with the same command" in stopped.stdout and not (tmp_path / "paper-cifar.md").exists()
    done = _paper(*nets)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "plain20: 2 of 2 epochs (finished)" in done.stdout and "resnet20: 2 of 2 epochs (finished)" in done.stdout
    assert _epochs(tmp_path, "plain20") == _epochs(tmp_path, "resnet20") == [1, 2]
    page = (tmp_path / "paper-cifar.md").read_text()
    assert "| resnet20 | 2 |" in page and "| plain20 | 2 |" in page and "| resnet56 |" not in page


@pytest.mark.slow
def test_sigterm_checkpoints_every_net_and_its_packed_copy_resumes_elsewhere(tmp_path: Path) -> None:
    first, second, packs = tmp_path / "slot1", tmp_path / "slot2", tmp_path / "packs"
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--dry-run", "--nets", "resnet20", "--epochs", "6",
                                "--out", str(first)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=ENV)
    for _ in range(1200):  # until an epoch is recorded (at most 10 minutes): an event, not a time
        if any(path.read_text() for path in first.glob("resnet20-*/metrics.jsonl")) or process.poll() is not None:
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)  # what a slot's `timeout` sends
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stdout + stderr
    done = len(_epochs(first, "resnet20"))
    assert f"resnet20: {done} of 6 epochs" in stdout and ("(stopped, checkpointed)" in stdout or done == 6)
    packed = subprocess.run([sys.executable, str(SCRIPT), "--out", str(first), "--pack", str(packs)],
                            capture_output=True, text=True, timeout=300)
    assert packed.returncode == 0 and "resnet20.tar.gz: " in packed.stdout, packed.stderr
    with tarfile.open(packs / "resnet20.tar.gz") as tar:
        checkpoints = {name.split("/")[2] for name in tar.getnames() if name.count("/") >= 2 and "checkpoints/" in name}
        assert len(checkpoints) == (0 if done == 6 else 1) and "resnet20.log" in tar.getnames()  # the newest only
    unpacked = subprocess.run([sys.executable, str(SCRIPT), "--out", str(second), "--unpack", str(packs)],
                              capture_output=True, text=True, timeout=300)
    assert unpacked.returncode == 0 and "unpacked resnet20" in unpacked.stdout, unpacked.stderr
    resumed = _paper("--nets", "resnet20", "--out", second)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resnet20: 6 of 6 epochs" in resumed.stdout and _epochs(second, "resnet20") == [1, 2, 3, 4, 5, 6]
    assert len(list(second.glob("resnet20-*"))) == 1  # resumed in its folder, not started again


@pytest.mark.slow
def test_a_failing_net_stops_its_siblings_and_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "resnet20-19700101-000000"
    broken.mkdir()
    (broken / "spec.toml").write_text("name = \n")  # its resume fails at once
    result = _paper("--nets", "plain20", "resnet20", "--epochs", "1000", "--out", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: archgen train resnet20 failed (exit 1): ") and "spec.toml" in error
    assert re.search(r"^plain20: \d+ of 1000 epochs \(stopped", result.stdout, re.M), result.stdout


@pytest.mark.slow
def test_unknown_nets_are_refused() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--nets", "resnet21"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "invalid choice: 'resnet21'" in result.stderr


def test_the_committed_page_shows_only_measured_numbers_or_says_not_run() -> None:
    page = (SCRIPT.parents[1] / "docs" / "paper-cifar.md").read_text()
    assert "Not run yet." in page or "Written by `scripts/paper_cifar.py` from real runs" in page
    if "Not run yet." in page:
        assert "python scripts/paper_cifar.py --data data/cifar10" in page and "| resnet20 |" not in page
