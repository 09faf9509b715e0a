"""Exports reload in their own runtime and match the eager model; a failed check raises and writes nothing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import onnxruntime
import pytest
import torch
from torch import Tensor, nn

from archgen import ArchgenError, build_model, load_spec
from archgen.export import _RUNNERS, TOLERANCE, ExportFormat, export_model

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

SUFFIX = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}


def resnet20() -> nn.Module:
    torch.manual_seed(0)
    return build_model(load_spec("resnet20"))


def run_file(format: str, path: Path, x: Tensor) -> Tensor:
    """The exported file, run by its own runtime on a batch of another size than the export's."""
    if format == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    loaded = torch.jit.load(str(path)) if format == "torchscript" else torch.export.load(str(path)).module()
    with torch.no_grad():
        return loaded(x)


@pytest.mark.parametrize("format", [pytest.param("onnx", marks=pytest.mark.slow), "torchscript", "exported-program"])
def test_round_trip(format: ExportFormat, tmp_path: Path) -> None:
    model = resnet20().train()
    out = tmp_path / f"resnet20{SUFFIX[format]}"
    result = export_model(model, format=format, out=out, input_shape=(2, 3, 32, 32))
    assert (result.path, result.format, result.dynamic_batch) == (out, format, True)
    assert 0 <= result.max_abs_diff <= TOLERANCE
    assert result.bytes == out.stat().st_size > 4 * 269_722  # float32 weights of ResNet-20
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary files left
    assert model.training  # the caller's mode is restored
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        expected = model.eval()(x)
    assert (run_file(format, out, x) - expected).abs().max() <= TOLERANCE


def shallow(name: str) -> nn.Module:
    """A shipped spec at one block per stage: every block kind and shortcut of the spec, built in a second."""
    spec = load_spec(name)
    torch.manual_seed(0)
    return build_model(spec.model_copy(update={"body": spec.body.model_copy(update={"depths": (1, 1, 1)})}))


@pytest.mark.parametrize("name", ["resnet110-exclusive-gating-b-6", "resnet110-shortcut-gating-b0",
                                  "resnet110-scaling0.5", "resnet110-dropout-shortcut", "resnet110-bn-after-addition",
                                  "resnet110-relu-before-addition", "resnet164-full-preactivation"])
def test_the_identity_ablations_script_with_a_dynamic_batch(name: str, tmp_path: Path) -> None:
    """TorchScript scripts He et al. 2016b's blocks (gates, scales, dropout, placements), not only traces them at the
    example's batch; control: resnet20 in test_round_trip."""
    out = tmp_path / f"{name}.pt"
    model = shallow(name)
    result = export_model(model, format="torchscript", out=out, input_shape=(2, 3, 32, 32))
    assert result.dynamic_batch
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        assert (run_file("torchscript", out, x) - model.eval()(x)).abs().max() <= TOLERANCE


def test_a_failing_check_raises_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reloaded file that computes something else (here: shifted outputs) is refused."""
    reload = _RUNNERS["torchscript"]
    monkeypatch.setitem(_RUNNERS, "torchscript", lambda path, x: [t + 1e-2 for t in reload(path, x)])
    out = tmp_path / "resnet20.pt"
    with pytest.raises(ArchgenError, match=r"torchscript export differs from the model by 0\.01"):
        export_model(resnet20(), format="torchscript", out=out, input_shape=(1, 3, 32, 32))
    assert list(tmp_path.iterdir()) == []


def test_a_failing_export_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unsupported operator\n  File 'torch/export/...', line 1\n    raise ...")

    monkeypatch.setattr(torch.export, "export", broken)
    with pytest.raises(ArchgenError) as error:
        export_model(resnet20(), format="exported-program", out=tmp_path / "x.pt2", input_shape=(1, 3, 32, 32))
    assert str(error.value) == "exported-program export failed at export: RuntimeError: unsupported operator"
    assert list(tmp_path.iterdir()) == []


class FixedBatch(nn.Module):
    """A model whose graph depends on the batch size: exported with static shapes instead."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(2, -1).sum(1)


def test_a_full_disk_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    monkeypatch.setattr(os, "link", full)  # a new file takes its name by a hard link (never replacing one)
    with pytest.raises(ArchgenError, match=r"^cannot export to .*x\.pt: No space left on device$"):
        export_model(resnet20(), format="torchscript", out=tmp_path / "x.pt", input_shape=(1, 3, 32, 32))
    assert list(tmp_path.iterdir()) == []


def test_static_shapes_where_a_dynamic_batch_cannot_be_exported(tmp_path: Path) -> None:
    result = export_model(FixedBatch(), format="exported-program", out=tmp_path / "f.pt2", input_shape=(2, 3, 4, 4))
    assert not result.dynamic_batch and result.max_abs_diff == 0


def test_feature_network_exports_every_stage(tmp_path: Path) -> None:
    features = build_model(load_spec("resnet20"), features_only=True)
    result = export_model(features, format="torchscript", out=tmp_path / "f.pt", input_shape=(1, 3, 32, 32))
    outputs = run_file("torchscript", result.path, torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outputs] == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "pickle"}, "export format must be one of onnx, torchscript, exported-program, got 'pickle'"),
        ({"input_shape": (3, 32, 32)}, r"input_shape must be four positive integers \(N, C, H, W\), got \(3, 32, 32\)"),
        ({"input_shape": (1, 4, 32, 32)}, "torchscript export failed at running the model: RuntimeError: "),
        ({"out": Path("/nonexistent/folder/x.pt")}, "folder /nonexistent/folder does not exist"),
    ],
)
def test_bad_requests(kwargs: dict[str, object], message: str, tmp_path: Path) -> None:
    arguments: dict[str, object] = {"format": "torchscript", "out": tmp_path / "x.pt", "input_shape": (1, 3, 32, 32)}
    with pytest.raises(ArchgenError, match=message) as error:
        export_model(resnet20(), **{**arguments, **kwargs})  # type: ignore[arg-type]
    assert "\n" not in str(error.value)
