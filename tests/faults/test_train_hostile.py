"""What else a hostile user does to training: edits the run's spec.toml before --resume, resumes a run a live
process holds, trains with a learning rate that makes the loss NaN, deletes the newest checkpoint mid-run, puts a
file or a read-only folder where a resume writes (every such folder is checked before training).
Each refusal is one line naming what is wrong, with a control showing the same command works without the fault."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
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
    contents,
    epochs_recorded,
    one_error_line,
    only_run,
    read_only,
    weights_sha,
    without_root_overrides,
    write_tiny,
)


def unfinished_copy(run: Path, tmp_path: Path) -> Path:
    """The finished run as if killed before its last epoch: newest checkpoint removed, no final weights."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "checkpoints" / checkpoints(copy)[-1])
    (copy / "weights.safetensors").unlink()
    return copy


@pytest.mark.parametrize(("edit", "named"), [
    (("lr = 0.1\n", "lr = 0.5\n"), "train.lr 0.1 -> 0.5"),
    (("depths = [1, 1, 1]", "depths = [2, 1, 1]"), "body.depths [1, 1, 1] -> [2, 1, 1]"),
    (('optimizer = "sgd"', 'optimizer = "adamw"'), "train.optimizer 'sgd' -> 'adamw'"),
])
def test_resume_refuses_an_edited_spec_naming_the_change(
    finished: Path, tmp_path: Path, edit: tuple[str, str], named: str
) -> None:
    run = unfinished_copy(finished, tmp_path)
    spec = run / "spec.toml"
    assert edit[0] in spec.read_text()
    spec.write_text(spec.read_text().replace(edit[0], edit[1]))
    before = contents(run)
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 1
    line = one_error_line(resumed)
    assert line.startswith(f"error: {spec} was edited after checkpoint {checkpoints(run)[-1]}: {named};"), line
    assert line.endswith(f"or train the edited spec as a new run: archgen train {spec}")
    assert contents(run) == before


def test_control_a_comment_is_no_edit_and_the_run_resumes(finished: Path, tmp_path: Path) -> None:
    run = unfinished_copy(finished, tmp_path)
    (run / "spec.toml").write_text("# looked at, not changed\n" + (run / "spec.toml").read_text())
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 0, resumed.stderr
    assert weights_sha(run) == weights_sha(finished) and epochs_recorded(run) == list(range(1, EPOCHS + 1))


@pytest.mark.slow
def test_resume_of_a_run_a_live_process_holds_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "waiting"
    live = subprocess.Popen(
        [sys.executable, str(WRAPPER), "--wait-at-update", f"{STEPS + 3}:{marker}", "--", "train",
         str(write_tiny(tmp_path)), "--out", str(tmp_path / "runs")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert live.poll() is None and time.monotonic() < deadline, live.communicate()
        time.sleep(0.02)
    run = only_run(tmp_path / "runs")
    before = contents(run)
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 1
    assert one_error_line(resumed) == f"error: {run} is in use by another archgen process"
    assert contents(run) == before
    live.communicate("\n", timeout=300)
    assert live.returncode == 0  # control: the live run finished undisturbed, and then the folder is free
    assert archgen_here("train", "--resume", str(run)).code == 0


@pytest.mark.parametrize(("train", "message"), [
    (1024, r"error: the training loss became nan at epoch 1, step (\d+): training stopped and no checkpoint was "
           r"written after it \(lower the learning rate or check the data\)"),
    (256, r"error: the weights became NaN or Inf after epoch 1: training stopped without checkpointing them "
          r"\(lower the learning rate or check the data\)"),  # batch norm keeps the loss finite for 8 steps
])
@pytest.mark.slow
def test_a_nan_loss_stops_naming_epoch_and_step(tmp_path: Path, train: int, message: str) -> None:
    spec, data = write_tiny(tmp_path, TINY_NAN), DATA.format(train=train)
    failed = archgen_here("train", str(spec), "--data", data, "--lr", "100", "--out", str(tmp_path / "nan"))
    assert failed.code == 1
    assert re.fullmatch(message, one_error_line(failed)), failed.stderr
    run = only_run(tmp_path / "nan")
    assert '"status": "failed: the ' in (run / "summary.json").read_text() and not checkpoints(run)
    control = archgen_here("train", str(spec), "--data", data, "--lr", "0.01", "--out", str(tmp_path / "ok"))
    assert control.code == 0, control.stderr


DATA = "synthetic:1x8x8,classes=2,train={train},val=16"
TINY_NAN = """\
name = "nan"
[input]
channels = 1
size = 8
classes = 2
[stem]
kind = "cifar"
width = 4
[body]
block = "basic"
depths = [1]
width = 4
[train]
epochs = 2
batch_size = 32
weight_decay = 1.0
"""  # lr 100 x weight decay 1: each step multiplies the weights by -99


@pytest.mark.slow
def test_deleting_the_newest_checkpoint_mid_run_then_a_kill_resumes_bitwise(finished: Path, tmp_path: Path) -> None:
    """The user removes the epoch-2 checkpoint just after it is written; the run is then killed in epoch 3."""
    spec = write_tiny(tmp_path)
    killed = archgen("train", str(spec), "--out", str(tmp_path / "runs"),
                     faults=("--after-save", "2:delete-newest", "--kill-at-update", str(2 * STEPS + 5)))
    assert killed.returncode == -signal.SIGKILL
    run = only_run(tmp_path / "runs")
    assert checkpoints(run) == [f"step-{STEPS:09d}"]  # control: it was deleted
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 0 and "resuming after epoch 1\n" in resumed.stdout
    assert weights_sha(run) == weights_sha(finished) and epochs_recorded(run) == list(range(1, EPOCHS + 1))


@pytest.mark.parametrize("folder", ["tensorboard", "checkpoints"])
def test_resume_where_a_folder_it_writes_to_is_a_file_fails_before_training(
    finished: Path, tmp_path: Path, folder: str
) -> None:
    """Every folder a resume writes to (the run's, checkpoints/, tensorboard/) is checked before the first step."""
    run = unfinished_copy(finished, tmp_path)
    if folder == "checkpoints":  # the checkpoints moved away: the run starts over, so its epochs must go too
        (run / "metrics.jsonl").unlink()
    shutil.rmtree(run / folder)
    (run / folder).write_bytes(b"not a folder")
    before = contents(run)
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 1 and resumed.stdout == ""
    assert one_error_line(resumed) == f"error: cannot write to {run / folder}: not a folder (a link, file or FIFO " \
                                      "holds its name) (errno 20, ENOTDIR)"
    assert contents(run) == before


@pytest.mark.slow
def test_resume_into_a_read_only_tensorboard_folder_fails_before_training(finished: Path, tmp_path: Path) -> None:
    run = unfinished_copy(finished, tmp_path)
    before = contents(run)
    with read_only(run / "tensorboard"):
        result = archgen("train", "--resume", str(run), preexec_fn=without_root_overrides)
    assert result.returncode == 1, result.stderr
    assert one_error_line(result) == f"error: cannot write to {run / 'tensorboard'}: Permission denied (errno 13, " \
                                     "EACCES)"
    assert result.stdout == "" and contents(run) == before
