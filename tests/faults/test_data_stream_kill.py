"""Streamed runs survive crashes as in-memory ones do: `archgen train` on a JPEG folder (`stream:`) or tar shards
(`wds:`), killed with SIGKILL mid-epoch or stopped by SIGTERM mid-epoch (a checkpoint at that step), then
`--resume`d, ends with weights bitwise identical (sha256) to an uninterrupted run's (CPU, one thread).

Controls: the kill landed mid-training (no final weights), the SIGTERM checkpoint is mid-epoch, and a resume whose
loader ignores the step it resumes at (the epoch's batches from the start again) is caught by the same sha256.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny import tiny_toml
from train_helpers import ENV, WRAPPER, archgen, archgen_here, checkpoints, only_run, weights_sha, write_tiny

from archgen.data import Loader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fake_data import write_image_folder
from fake_shards import write_shards

EPOCHS, STEPS = 3, 8  # 120 training images in batches of 16


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """For the folder and for its shards: a tiny spec training on them, and the uninterrupted run's sha256."""
    root = tmp_path_factory.mktemp("stream")
    images = write_image_folder(root / "images", classes=("a", "b", "c"), per_class=40, size=20, suffix=".jpg")
    shards = (f"wds:{write_shards(images, root / 'shards', split='train', per_shard=25)},"
              f"val={write_shards(images, root / 'shards', split='val', per_shard=25)}")
    made = {}
    for kind, data in (("folder", f"stream:{images}"), ("shards", shards)):
        spec = write_tiny(root / kind, tiny_toml(epochs=EPOCHS, batch_size=16, data=data).replace("size = 32",
                                                                                                  "size = 16"))
        outcome = archgen_here("train", str(spec), "--out", str(root / kind / "reference"))
        assert outcome.code == 0, outcome.stderr
        made[kind] = (spec, weights_sha(only_run(root / kind / "reference")))
    return made


def resumed_sha(run: Path) -> str:
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 0, outcome.stderr
    return weights_sha(run)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(specs: dict[str, tuple[Path, str]],
                                                            tmp_path: Path) -> None:
    spec, sha = specs["folder"]
    killed = archgen("train", str(spec), "--out", str(tmp_path), faults=("--kill-at-update", str(STEPS + 5)))
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # control: it died by kill -9, in epoch 2
    run = only_run(tmp_path)
    assert not (run / "weights.safetensors").exists() and checkpoints(run) == [f"step-{STEPS:09d}"]
    assert resumed_sha(run) == sha


def stop_mid_epoch(spec: Path, out: Path) -> Path:
    """`archgen train` sent SIGTERM right after update STEPS + 3 (epoch 2, step 3): it checkpoints there."""
    waiting = out / "waiting"
    process = subprocess.Popen([sys.executable, str(WRAPPER), "--wait-at-update", f"{STEPS + 3}:{waiting}", "--",
                                "train", str(spec), "--out", str(out / "runs")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=ENV)
    deadline = time.monotonic() + 300
    while not waiting.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate("\n", timeout=300)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    run = only_run(out / "runs")
    assert checkpoints(run)[-1] == f"step-{STEPS + 3:09d}"  # control: mid-epoch, where the signal landed
    return run


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["folder", "shards"])
def test_sigterm_mid_epoch_then_resume_is_bitwise_identical(specs: dict[str, tuple[Path, str]], tmp_path: Path,
                                                            kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, sha = specs[kind]
    run = stop_mid_epoch(spec, tmp_path)
    copy = tmp_path / "control"
    subprocess.run(["cp", "-a", str(run), str(copy)], check=True)
    assert resumed_sha(run) == sha
    if kind == "folder":  # control: a loader that resumes every epoch at its first batch is caught
        batches = Loader.batches
        monkeypatch.setattr(Loader, "batches", lambda self, epoch, start=0: batches(self, epoch))
        assert resumed_sha(copy) != sha
