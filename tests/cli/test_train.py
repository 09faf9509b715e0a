"""`archgen train` as a user runs it: the default, a spec file, bad data and unwritable run folders (one clear
line, exit 1, nothing of torch's internals), `--resume` misuse, and the real CIFAR-10 JPEGs when present."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from in_process import archgen_here
from tiny import tiny_toml
from typer.testing import CliRunner

from archgen.cli.app import app
from archgen.spec.writer import dump_spec

runner = CliRunner()
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_toml())
    return path


def archgen(*args: str, cwd: Path | None = None, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archgen", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, **options)  # type: ignore[call-overload]


# not slow: the fast tier's one end-to-end training on the digits (a tiny net, two epochs)
def test_trains_a_spec_file_into_a_run_folder(tiny: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(tiny), "--out", str(tmp_path / "runs"), "--seed", "1"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "archgen train tiny on digits · cpu" in text and "1,437 train / 360 val images, 1x8x8, 10 classes" in text
    assert "note: digits has 1-channel images of 10 classes" in text
    assert "    1/2 " in text and "    2/2 " in text and "validation error" in text
    run = next((tmp_path / "runs").iterdir())
    assert {p.name for p in run.iterdir()} >= {"spec.toml", "metrics.jsonl", "summary.json", "weights.safetensors",
                                               "curves.png", "checkpoints"}
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {run}/" in text.replace("\n", "")


@pytest.mark.slow
def test_default_trains_the_shipped_digits_resnet(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--epochs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "archgen train digits-resnet20 on digits" in result.output
    assert json.loads(next(tmp_path.glob("*/summary.json")).read_text())["status"] == "finished"


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "mnist"], "error: --data 'mnist': unknown data source; expected digits, cifar10:DIR"),
    (["--data", "imagefolder:/nowhere"], "error: imagefolder:/nowhere: no such folder; expected /nowhere/train/"),
    (["--data", "cifar10:/nowhere"], "error: cifar10:/nowhere: no such folder; expected the CIFAR-10 python batches"),
    (["--epochs", "0"], "Invalid value for '--epochs'"),
    (["--lr", "-1"], "train.lr: must be greater than 0, got -1.0"),
    (["--device", "tpu"], "error: --device must be one of auto, cpu, cuda, mps or cuda:N, got 'tpu'"),
    (["no-such-spec"], "no such file, and no shipped spec of that name"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = archgen_here("train", *args, "--out", str(tmp_path))
    assert result.code in (1, 2) and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written for a run that never started


def test_resume_takes_no_recipe_options(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--resume", str(tmp_path), "--epochs", "3"])
    assert result.exit_code == 2 and "--resume continues a run as its spec.toml says" in result.output


def test_resume_of_something_else_says_what_a_run_folder_is(tmp_path: Path) -> None:
    result = archgen_here("train", "--resume", str(tmp_path))
    assert result.code == 1
    assert f"error: {tmp_path}: not a run folder (expected {tmp_path}/spec.toml" in result.stderr


def _without_root_overrides() -> None:
    """Root ignores permission bits: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from what the child may hold."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="Linux permissions and capabilities")
def test_read_only_runs_folder_fails_before_training(tiny: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o555)
    result = archgen("train", str(tiny), "--out", str(runs), preexec_fn=_without_root_overrides)
    assert result.returncode == 1, result.stderr
    assert f"error: cannot create a run folder in {runs}: Permission denied (errno 13, EACCES)" in result.stderr
    assert "inline_container" not in result.stderr and "epoch" not in result.stdout


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.slow
def test_file_size_limit_fails_before_training(tiny: Path, tmp_path: Path) -> None:
    result = archgen("train", str(tiny), "--out", str(tmp_path), preexec_fn=lambda: _limit_file_size(20_000))
    assert result.returncode == 1, result.stderr
    assert "error: cannot write checkpoints in" in result.stderr
    assert "(File too large, errno 27, EFBIG)" in result.stderr
    assert "inline_container" not in result.stderr and "1/2" not in result.stdout


@pytest.mark.slow
def test_a_full_disk_mid_run_names_the_file_and_errno(tmp_path: Path) -> None:
    """Past the check before training (the disk fills later): every write names its path and errno."""
    code = (
        "import torch; from pathlib import Path; from archgen.training import RunFolder, save_checkpoint;"
        "from archgen.training.state import TrainState, rng_state;"
        f"folder = Path({str(tmp_path)!r});"
        "state = TrainState(epoch=0, step=0, updates=1, weights={'w': torch.zeros(100_000)}, optimizer={},"
        " scheduler={}, rng=rng_state());"
        "save_checkpoint(folder, state)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            preexec_fn=lambda: _limit_file_size(100_000))
    assert "archgen.errors.RunError: cannot write" in result.stderr and "weights.safetensors" in result.stderr
    assert "File too large (errno 27, EFBIG)" in result.stderr and "inline_container" not in result.stderr
    assert not list(tmp_path.glob("step-*"))  # no half-written checkpoint left behind


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "cifar10-jpeg-test.zip").is_file(), reason=f"no CIFAR-10 JPEGs in {SHARED_DATA}")
def test_real_cifar10_jpegs_as_an_image_folder(tmp_path: Path) -> None:
    """A small subset of the real CIFAR-10 JPEGs (3 classes; 40 train, 10 test images each), trained as a user would."""
    with zipfile.ZipFile(SHARED_DATA / "cifar10-jpeg-test.zip") as archive:
        for name in archive.namelist():
            parts = name.split("/")  # cifar10/test/<class>/NNNN.jpg
            if len(parts) == 4 and parts[2] in ("cat", "dog", "ship") and parts[3] and int(parts[3][:4]) < 50:
                target = tmp_path / "cifar" / ("train" if int(parts[3][:4]) < 40 else "test") / parts[2] / parts[3]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    result = archgen("train", "resnet20", "--data", f"imagefolder:{tmp_path / 'cifar'}", "--epochs", "1",
                     "--batch-size", "32", "--out", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    assert "120 train / 30 val images, 3x32x32, 3 classes" in result.stdout
    assert "note: training at" not in result.stdout  # 32x32 RGB: the spec's own size
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text())
    assert summary["status"] == "finished" and summary["train_images"] == 120


@pytest.mark.slow
def test_run_folder_spec_is_written_in_full(tiny: Path, tmp_path: Path) -> None:
    from archgen import load_spec

    result = runner.invoke(app, ["train", str(tiny), "--epochs", "1", "--lr", "0.05", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = load_spec(next(tmp_path.glob("*/spec.toml")))
    assert written.train.epochs == 1 and written.train.lr == 0.05 and written.input.channels == 1
    assert "momentum = 0.9" in dump_spec(written, defaults=True)


class _Planted:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.slow
def test_resume_refuses_a_planted_pickle_and_keeps_everything(tiny: Path, tmp_path: Path) -> None:
    """The only checkpoint's state file is a pickle that would run code; its manifest is forged to match."""
    assert runner.invoke(app, ["train", str(tiny), "--epochs", "1", "--out", str(tmp_path / "runs")]).exit_code == 0
    (run,) = (tmp_path / "runs").iterdir()
    (run / "weights.safetensors").unlink()  # not finished: a finished run resumes only to say so
    (checkpoint,) = (run / "checkpoints").iterdir()
    marker = tmp_path / "pwned"
    (checkpoint / "state.pt").write_bytes(pickle.dumps({"epoch": _Planted(marker)}))
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    manifest["sha256"]["state.pt"] = hashlib.sha256((checkpoint / "state.pt").read_bytes()).hexdigest()
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))
    before = sorted(path.name for path in run.rglob("*"))
    result = archgen("train", "--resume", str(run), env={**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    assert result.returncode == 1 and not marker.exists()
    assert f"error: no good checkpoint to resume {run} from: {checkpoint}: {checkpoint}/state.pt is not a plain " \
           "checkpoint state, refused to load it" in result.stderr
    assert sorted(path.name for path in run.rglob("*")) == before  # nothing deleted, nothing overwritten


@pytest.mark.slow
def test_resume_after_a_kill_before_the_first_checkpoint_starts_over(tiny: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["train", str(tiny), "--epochs", "1", "--out", str(tmp_path / "runs")]).exit_code == 0
    (run,) = (tmp_path / "runs").iterdir()
    for path in (run / "checkpoints").iterdir():
        for file in path.iterdir():
            file.unlink()
        path.rmdir()
    for name in ("weights.safetensors", "metrics.jsonl", "summary.json"):  # none is written before that checkpoint
        (run / name).unlink()
    result = runner.invoke(app, ["train", "--resume", str(run)])
    assert result.exit_code == 0 and "no checkpoint yet (stopped before the first one)" in result.output


def test_data_no_spec_could_describe_is_a_data_error(tmp_path: Path) -> None:
    result = archgen_here("train", "--data", "synthetic:3x8x8,classes=200000,train=10,val=2", "--out", str(tmp_path))
    assert result.code == 1 and result.stdout == ""
    assert "synthetic: classes must be at least 2 and at most 100,000 (what a spec classifies), got 200,000" \
        in result.stderr
