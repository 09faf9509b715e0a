"""`archgen responses`: the std of every 3x3 layer's response after its BN (He et al. 2016, Fig. 7), measured on a
run's validation images, written as JSON and the paper's two-panel plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny import tiny_spec

import archgen
from archgen.cli import main
from archgen.training import train, with_recipe
from archgen.training.responses import layer_responses, measured_points


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = train(with_recipe(tiny_spec(), data="digits", epochs=1), out=tmp_path_factory.mktemp("runs"))
    assert result.run_dir is not None
    return result.run_dir


def test_every_3x3_layer_is_measured_after_its_bn() -> None:
    points = measured_points(archgen.load_spec("resnet20"))
    assert len(points) == 1 + 2 * 9  # the stem's conv and two per block
    assert points[:3] == ["stem.bn", "stages.0.0.branch.bn1", "stages.0.0.branch.bn2"]
    preact = measured_points(archgen.load_spec("resnet164"))  # bottlenecks: one 3x3 each; pre-activation: the
    assert preact[1] == "stages.0.0.branch.bn2" and len(preact) == 1 + 18 * 3  # stem conv has no BN after it
    assert preact[0] == "stem.conv"


@pytest.mark.slow
def test_the_std_is_that_of_every_output_element(run: Path) -> None:
    """Against torch.std of the outputs gathered whole (population std), for two of the layers."""
    responses = layer_responses(run, device="cpu")
    model = archgen.build_model(archgen.load_spec(run / "spec.toml"))
    model.load_state_dict(load_file(run / "weights.safetensors"))
    from archgen.data import load_data, make_loaders

    data = load_data("digits", size=8)
    outputs: dict[str, list[torch.Tensor]] = {"stem.bn": [], "stages.2.0.branch.bn2": []}
    for name, kept in outputs.items():  # copies: an in-place ReLU or += follows each
        model.get_submodule(name).register_forward_hook(lambda m, i, o, kept=kept: kept.append(o.detach().clone()))
    with torch.no_grad():
        for images, _ in make_loaders(data, batch_size=100, augment=False, seed=0, device="cpu").val.batches(0):
            model.eval()(images)
    measured = dict(responses.layers)
    for name, kept in outputs.items():
        assert measured[name] == pytest.approx(torch.cat(kept).double().std(unbiased=False).item(), rel=1e-9)


@pytest.mark.slow
def test_a_zeroed_residual_branch_responds_zero(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("spec.toml", "data.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    weights = load_file(run / "weights.safetensors")
    for key in list(weights):
        if key.endswith("branch.bn2.weight") or key.endswith("branch.bn2.bias"):
            weights[key] = torch.zeros_like(weights[key])  # F(x) = 0: every block is the identity
    save_file(weights, copy / "weights.safetensors")
    measured = dict(layer_responses(copy, device="cpu").layers)
    assert all(std == 0 for name, std in measured.items() if name.endswith("bn2"))
    assert all(std > 0 for name, std in measured.items() if not name.endswith("bn2"))  # control: the others respond


@pytest.mark.slow
def test_cli_prints_json_writes_the_plot_and_never_replaces_it_unasked(run: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "r.png"
    with pytest.raises(SystemExit) as exit:
        main(["responses", str(run), "--device", "cpu", "--json", "--plot", str(plot)])
    assert exit.value.code in (0, None)
    written = json.loads(capsys.readouterr().out)  # --json: one document on stdout
    (only,) = written["runs"]
    assert only["name"] == "tiny" and only["residual"] is True and len(only["layers"]) == 1 + 2 * 3
    assert plot.read_bytes()[:4] == b"\x89PNG"
    before = plot.read_bytes()
    with pytest.raises(SystemExit) as again:
        main(["responses", str(run), "--device", "cpu", "--json", "--plot", str(plot)])
    assert again.value.code == 1 and plot.read_bytes() == before and capsys.readouterr().out == ""
