"""Runs survive crashes: `archgen train` killed with SIGKILL at random moments, or stopped with SIGTERM/SIGINT
mid-epoch, then `--resume`d, ends with weights bitwise identical to an uninterrupted run (CPU, fixed seed)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny import write_tiny_spec

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same thread count everywhere: the same float sums


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archgen", "train", *args], capture_output=True, text=True,
                          timeout=600, env=ENV)


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "archgen", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _weights_sha(run: Path) -> str:
    return hashlib.sha256((run / "weights.safetensors").read_bytes()).hexdigest()


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """(spec, sha256 of the uninterrupted run's final weights, its training time)."""
    folder = tmp_path_factory.mktemp("reference")
    spec = write_tiny_spec(folder / "tiny.toml", epochs=4, batch_size=32)
    began = time.monotonic()
    result = _train(str(spec), "--out", str(folder / "runs"))
    assert result.returncode == 0, result.stderr
    (run,) = (folder / "runs").iterdir()
    return spec, _weights_sha(run), time.monotonic() - began


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(
    reference: tuple[Path, str, float], tmp_path: Path
) -> None:
    spec, expected, seconds = reference
    moments = random.Random(1234)
    for attempt in range(3):
        out = tmp_path / f"attempt{attempt}"
        process = _start(str(spec), "--out", str(out))
        _wait_for(out, process)
        run = _single_run(out, process)
        time.sleep(moments.uniform(0.0, 0.8 * seconds))  # anywhere: mid-step, mid-checkpoint, mid-evaluation
        process.send_signal(signal.SIGKILL)
        process.communicate()
        resumed = _train("--resume", str(run))
        assert resumed.returncode == 0, resumed.stderr
        assert _weights_sha(run) == expected, f"attempt {attempt}: resumed weights differ"
        assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def _single_run(out: Path, process: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 60
    while not list(out.glob("*/spec.toml")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    (spec,) = out.glob("*/spec.toml")
    return spec.parent


@pytest.mark.slow
@pytest.mark.parametrize(("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_checkpoint_mid_epoch_then_resume_is_bitwise_identical(
    reference: tuple[Path, str, float], tmp_path: Path, signal_number: int, exit_code: int
) -> None:
    spec, expected, _ = reference
    process = _start(str(spec), "--out", str(tmp_path))
    _wait_for(tmp_path, process)
    run = _single_run(tmp_path, process)
    _wait_for(run / "metrics.jsonl", process)  # the first epoch is done: the signal lands in the second or later
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == exit_code, stderr
    name = signal.Signals(signal_number).name
    assert f"stopped by {name} at epoch" in stdout and f"continue with: archgen train --resume {run}" in stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "stopped" and "Traceback" not in stderr
    resumed = _train("--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stdout
    assert _weights_sha(run) == expected
