"""Weights are checked when they are loaded, not an epoch later: every tensor of `--init`, `archgen build --weights`,
`archgen grow` and `archgen responses` (a run's weights read back) and of a checkpoint must be finite and real, and
floating point where the network's is. A refusal names the file, the first offending tensor and its dtype.

Controls: the same files with their values put right load, in each format.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny import tiny_spec, tiny_toml
from train_helpers import archgen_here, forge_manifest, one_error_line
from train_states import sample_state

from archgen.compile import build_model
from archgen.errors import RunError
from archgen.spec.schema import NetSpec
from archgen.training import RunFolder, load_latest, load_trained, save_checkpoint
from archgen.training.checkpoints import WEIGHTS
from archgen.training.pretrained import read_initial

FIRST = "stem.conv.weight"  # the first tensor of the tiny net, in file order

DAMAGE: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], str]] = {
    "nan": (lambda t: t.clone().index_fill_(0, torch.tensor([0]), float("nan")), "holds NaN or infinite values"),
    "inf": (lambda t: t.clone().fill_(float("inf")), "holds NaN or infinite values"),
    "int": (lambda t: t.to(torch.int64), "is torch.int64 "),
    "bool": (lambda t: t > 0, "is torch.bool; weights are real numbers"),
    "complex": (lambda t: t.to(torch.complex64), "is torch.complex64; weights are real numbers"),
}


def state(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone().contiguous() for name, tensor in network.state_dict().items()}


def damaged(tensors: dict[str, torch.Tensor], how: str) -> dict[str, torch.Tensor]:
    return {**tensors, FIRST: DAMAGE[how][0](tensors[FIRST])}


def write(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    if path.suffix == ".safetensors":
        save_file(tensors, path)
    else:
        torch.save(tensors, path)
    return path


@pytest.fixture
def network() -> torch.nn.Module:
    return build_model(tiny_spec())


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
@pytest.mark.parametrize("how", list(DAMAGE))
def test_init_weights_that_no_network_holds_are_refused_naming_the_tensor(
    network: torch.nn.Module, tmp_path: Path, how: str, suffix: str
) -> None:
    if how == "complex" and suffix == ".safetensors":
        pytest.skip("safetensors stores no complex dtype")
    path = write(tmp_path / f"w{suffix}", damaged(state(network), how))
    with pytest.raises(RunError) as refused:
        read_initial(path, network)
    message = str(refused.value)
    assert FIRST in message and DAMAGE[how][1] in message and "\n" not in message, message
    assert message.startswith((f"{path}: {FIRST}", f"{path} does not fit the network: {FIRST}"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_control_the_same_weights_put_right_load(network: torch.nn.Module, tmp_path: Path, suffix: str) -> None:
    """A float64 file holds weights too: they are cast, as a fine-tuning run expects."""
    tensors = {name: t.double() if t.is_floating_point() else t for name, t in state(network).items()}
    loaded = read_initial(write(tmp_path / f"w{suffix}", tensors), network)
    assert torch.equal(loaded.tensors[FIRST], tensors[FIRST])


def test_train_init_with_nan_weights_is_one_line_before_training(network: torch.nn.Module, tmp_path: Path) -> None:
    path = write(tmp_path / "w.safetensors", damaged(state(network), "nan"))
    spec = tmp_path / "tiny.toml"
    spec.write_text(tiny_toml(epochs=1))
    outcome = archgen_here("train", str(spec), "--init", str(path), "--data", "synthetic:3x32x32,classes=10,"
                           "train=64,val=16", "--epochs", "1", "--out", str(tmp_path / "runs"))
    assert outcome.code == 1
    assert one_error_line(outcome) == f"error: {path}: {FIRST} holds NaN or infinite values; weights must be " \
                                      "finite (a damaged file, or one saved from a run that diverged)"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("metrics.jsonl"))


# --- a run's weights read back: build --weights, grow, responses (load_trained), and checkpoints ---------------------


@pytest.mark.parametrize("how", ["nan", "int", "bool"])
def test_a_runs_weights_read_back_are_checked(finished: Path, tmp_path: Path, how: str) -> None:
    weights = tmp_path / WEIGHTS
    write(weights, damaged(load_file(finished / WEIGHTS), how))
    with pytest.raises(RunError) as refused:
        load_trained(tiny_from(finished), weights)
    assert FIRST in str(refused.value) and DAMAGE[how][1] in str(refused.value)
    assert str(refused.value).startswith(str(weights))


def test_control_a_runs_weights_as_written_load(finished: Path) -> None:
    assert load_trained(tiny_from(finished), finished / WEIGHTS) is not None


def test_build_weights_with_nan_is_one_line(finished: Path, tmp_path: Path) -> None:
    weights, out = tmp_path / WEIGHTS, tmp_path / "net.onnx"
    write(weights, damaged(load_file(finished / WEIGHTS), "nan"))
    built = archgen_here("build", str(finished / "spec.toml"), "--export", "onnx", "--out", str(out),
                         "--weights", str(weights))
    assert built.code == 1 and not out.exists()
    assert one_error_line(built).startswith(f"error: {weights}: {FIRST} holds NaN or infinite values")


def tiny_from(run: Path) -> NetSpec:
    return RunFolder.open(run).spec()


def test_a_checkpoint_with_non_finite_weights_is_skipped_for_the_previous(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    previous = save_checkpoint(folder, sample_state(4))
    newest = save_checkpoint(folder, sample_state(8))
    tensors = load_file(newest / WEIGHTS)
    write(newest / WEIGHTS, {**tensors, "layer.weight": torch.full((3, 2), float("nan"))})
    forge_manifest(newest)
    loaded = load_latest(folder)
    assert loaded.path == previous and loaded.state is not None and loaded.state.updates == 4  # control: it loads
    assert loaded.skipped == (f"{newest}: {newest / WEIGHTS}: layer.weight holds NaN or infinite values; weights "
                              "must be finite (a damaged file, or one saved from a run that diverged)",)


def test_a_resume_refuses_a_checkpoint_whose_counter_became_a_float(finished: Path, tmp_path: Path) -> None:
    """The other direction: a checkpoint's integer buffer (num_batches_tracked) saved as floating point."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / WEIGHTS).unlink()
    for checkpoint in sorted((run / "checkpoints").glob("step-*")):
        tensors = load_file(checkpoint / WEIGHTS)
        name = next(name for name in tensors if name.endswith("num_batches_tracked"))
        write(checkpoint / WEIGHTS, {**tensors, name: tensors[name].double()})
        forge_manifest(checkpoint)
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 1
    line = one_error_line(outcome)
    assert "num_batches_tracked is torch.float64 saved, torch.int64 in the network" in line, line
