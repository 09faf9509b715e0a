"""Runs survive crashes: `archgen train` killed with SIGKILL at seeded random updates, or stopped by SIGTERM/SIGINT
mid-epoch, then `--resume`d, ends with weights bitwise identical (sha256) to an uninterrupted run (CPU, one thread).

Controls: the kill really landed mid-training (the process died by SIGKILL with no final weights), and the same
sha256 comparison does catch a resume that differs (one that forgets the optimiser's momentum).
"""

from __future__ import annotations

import importlib
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from train_helpers import (
    ENV,
    EPOCHS,
    STEPS,
    WRAPPER,
    archgen,
    archgen_here,
    checkpoints,
    epochs_recorded,
    only_run,
    weights_sha,
    write_tiny,
)

from archgen.training import state

RESUME = importlib.import_module("archgen.training.resume")  # where a resume puts the saved state back


@dataclass(frozen=True)
class Reference:
    spec: Path
    sha: str


@pytest.fixture(scope="module")
def reference(finished: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The tiny spec and the uninterrupted run's weights: the session's `finished` run (trained in this process, one
    thread, as the subprocesses)."""
    return Reference(write_tiny(tmp_path_factory.mktemp("reference")), weights_sha(finished))


def resume_and_compare(
    run: Path, reference: Reference, monkeypatch: pytest.MonkeyPatch, *, control: bool = True
) -> str:
    """Resume `run` (bitwise equal to the reference); with `control`, also a copy of it with a broken resume,
    which the same comparison must catch."""
    copy = run.with_name(run.name + "-control")
    if control:
        shutil.copytree(run, copy)
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 0, resumed.stderr
    assert weights_sha(run) == reference.sha, "resumed weights differ from the uninterrupted run's"
    assert epochs_recorded(run) == list(range(1, EPOCHS + 1))

    def forget_momentum(engine: object, saved: state.TrainState) -> None:
        state.restore(engine, saved)  # type: ignore[arg-type]
        engine.optimizer.state.clear()  # type: ignore[attr-defined]

    if control:
        with monkeypatch.context() as patch:
            patch.setattr(RESUME, "restore", forget_momentum)
            assert archgen_here("train", "--resume", str(copy)).code == 0
        assert weights_sha(copy) != reference.sha, "the comparison cannot tell a broken resume from a good one"
    return resumed.stdout


# Seeded random updates after the first checkpoint (end of epoch 1), anywhere up to the last one.
KILL_AT = random.Random(1234).sample(range(STEPS + 1, EPOCHS * STEPS), 3)


@pytest.mark.slow
@pytest.mark.parametrize("update", KILL_AT)
def test_sigkill_at_a_random_update_then_resume_is_bitwise_identical(
    reference: Reference, tmp_path: Path, update: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed = archgen("train", str(reference.spec), "--out", str(tmp_path), faults=("--kill-at-update", str(update)))
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # control: it died by kill -9, right there
    run = only_run(tmp_path)
    assert not (run / "weights.safetensors").exists()  # control: mid-training, not after it
    assert checkpoints(run)[-1] == f"step-{update // STEPS * STEPS:09d}"
    resumed = resume_and_compare(run, reference, monkeypatch, control=update == KILL_AT[0])
    assert f"resuming after epoch {update // STEPS}\n" in resumed


def stop_with_signal(spec: Path, out: Path, signal_number: int) -> subprocess.CompletedProcess[str]:
    """`archgen train` sent `signal_number` while update STEPS + 10 (epoch 2, step 10) is done."""
    waiting = out / "waiting"
    process = subprocess.Popen(
        [sys.executable, str(WRAPPER), "--wait-at-update", f"{STEPS + 10}:{waiting}", "--",
         "train", str(spec), "--out", str(out / "runs")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    deadline = time.monotonic() + 300
    while not waiting.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal_number)
    stdout, stderr = process.communicate("\n", timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.slow
@pytest.mark.parametrize(("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_mid_epoch_checkpoint_then_resume_is_bitwise_identical(
    reference: Reference, tmp_path: Path, signal_number: int, exit_code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run checkpoints where the signal landed (mid-epoch) and exits with 128 + the signal's number."""
    stopped = stop_with_signal(reference.spec, tmp_path, signal_number)
    assert stopped.returncode == exit_code, stopped.stderr
    run = only_run(tmp_path / "runs")
    name = signal.Signals(signal_number).name
    assert f"stopped by {name} at epoch 2, step 10 of {STEPS}; checkpoint saved, continue with: archgen train " \
           f"--resume {run}" in stopped.stdout
    assert "Traceback" not in stopped.stderr and not (run / "weights.safetensors").exists()
    assert checkpoints(run)[-1] == f"step-{STEPS + 10:09d}"  # mid-epoch, where the signal landed
    assert '"status": "stopped"' in (run / "summary.json").read_text()
    resumed = resume_and_compare(run, reference, monkeypatch, control=signal_number == signal.SIGTERM)
    assert f"resuming at epoch 2, step 10 of {STEPS}" in resumed  # counted as the stop counted it


@pytest.mark.slow
def test_stopped_then_killed_after_resuming_then_resumed_is_bitwise_identical(
    reference: Reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted twice: SIGTERM mid-epoch 2, then the resumed process killed 20 updates later (in epoch 3)."""
    assert stop_with_signal(reference.spec, tmp_path, signal.SIGTERM).returncode == 143
    run = only_run(tmp_path / "runs")
    killed = archgen("train", "--resume", str(run), faults=("--kill-at-update", "20"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert checkpoints(run) == [f"step-{STEPS + 10:09d}", f"step-{2 * STEPS:09d}"]
    assert "resuming after epoch 2\n" in resume_and_compare(run, reference, monkeypatch, control=False)
