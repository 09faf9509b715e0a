"""`archgen build`: the stage table, the reference numbers beside archgen's, --plain, --blocks, --json, --export."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from in_process import archgen_here
from safetensors.torch import save_file
from typer.testing import CliRunner

from archgen.cli.app import app
from archgen.reference import PAPER_NUMBERS
from archgen.spec.library import shipped_specs

runner = CliRunner()


def _row(text: str, label: str) -> list[str]:
    """The cells of the first row starting with `label` (cells are separated by two or more spaces)."""
    line = next(line for line in text.splitlines() if line.strip().startswith(label + " "))
    return re.split(r"\s{2,}", line.strip())


def _build(*args: str) -> str:
    result = runner.invoke(app, ["build", *args], terminal_width=120)
    assert result.exit_code == 0, result.output
    return result.output


def test_table_shows_every_stage_with_shapes_params_and_macs() -> None:
    lines = _build("resnet34").splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.strip()}
    assert rows["stem"] == ["64", "4", "64×56×56", "9,536", "118,013,952"]
    assert rows["stages.0"] == ["3", "64", "1", "64×56×56", "221,952", "693,633,024"]
    assert rows["stages.3"] == ["3", "512", "2", "512×7×7", "13,114,368", "642,252,800"]
    assert rows["head"] == ["1000×1×1", "513,000", "512,000"]
    assert rows["total"] == ["16", "21,797,672", "3,663,761,408"]
    assert "FLOPs = 2 × MACs = 7,327,522,816" in " ".join(lines)


def test_reference_numbers_are_printed_beside_archgen_s() -> None:
    text = _build("resnet50")
    assert "reference: resnet50" in text
    assert _row(text, "params") == ["params", "25,557,032", "25,557,032", "✓"]
    assert _row(text, "MACs") == ["MACs", "3,857,973,248", "3,857,973,248", "✓"]
    assert _row(text, "paper: GFLOPs") == ["paper: GFLOPs (mult-adds)", "3.858", "3.8", "✓"]


def test_v1_5_is_checked_against_torchvision_not_the_paper() -> None:
    text = _build("resnet50-v1.5")
    assert _row(text, "GMACs") == ["GMACs", "4.089", "4.089", "✓"]
    assert "paper: GFLOPs" not in text  # the paper's Table 1 counts v1, not this layout


def test_blocks_adds_a_row_per_block() -> None:
    text = _build("resnet20", "--blocks")
    for path in ("stages.0.0", "stages.0.2", "stages.2.2"):
        assert path in text
    assert "stages.0.0" not in _build("resnet20")


def test_plain_flips_to_the_plain_counterpart_and_its_reference() -> None:
    text = _build("resnet34", "--plain")
    assert "plain34" in text and "plain: no shortcuts" in text
    assert _row(text, "params") == ["params", "21,623,848", "21,623,848", "✓"]
    assert _row(text, "MACs") == ["MACs", "3,644,493,824", "3,644,493,824", "✓"]


@pytest.mark.parametrize(("name", "words"), [
    ("resnet110-exclusive-gating-b-6", "shortcut A · exclusive gating, b_g -6"),
    ("resnet110-shortcut-gating-b0", "shortcut A · shortcut-only gating, b_g 0"),
    ("resnet110-scaling0.5", "shortcut A · scaled: shortcut 0.5, branch 1"),
    ("resnet110-dropout-shortcut", "shortcut A · shortcut dropout 0.5"),
    ("resnet164-bn-after-addition", "shortcut B · BN after addition"),
    ("resnet110-relu-only-preactivation", "shortcut A · ReLU-only pre-activation"),
])
def test_the_title_names_the_ablation_a_net_makes(name: str, words: str) -> None:
    """He et al. 2016b's rows differ from ResNet-110 in one key each: the title says which (the original says none)."""
    assert words in _title(_build(name))
    assert _title(_build("resnet110-original")).endswith("basic · shortcut A")  # control


def _title(text: str) -> str:
    """The table's title, which rich wraps at the table's width: its lines up to the blank one, joined."""
    lines = text.splitlines()
    return " ".join(line.strip() for line in lines[: lines.index(next(line for line in lines if not line.strip()))])


def test_table_fits_80_columns_without_truncation() -> None:
    result = runner.invoke(app, ["build", "resnet152", "--blocks"], terminal_width=80)
    assert "…" not in result.output
    assert "stages.2.35" in result.output


@pytest.mark.parametrize("name", sorted(PAPER_NUMBERS))
def test_json_reproduces_every_paper_number(name: str) -> None:
    facts = json.loads(_build(name, "--json"))
    numbers = PAPER_NUMBERS[name]
    assert facts["params"] == numbers.params
    assert facts["flops"] == 2 * facts["macs"]
    if numbers.macs is not None:
        assert facts["macs"] == numbers.macs
    if numbers.gmacs is not None:
        assert facts["gmacs"] == numbers.gmacs
    assert facts["reference"]["name"] == name
    exact = [check for check in facts["reference"]["checks"] if check["quantity"] in {"params", "MACs", "GMACs"}]
    assert exact and all(check["matches"] for check in exact)


def test_json_has_stages_blocks_stem_and_head() -> None:
    facts = json.loads(_build("resnet50", "--json"))
    assert facts["name"] == "resnet50" and facts["input_shape"] == [3, 224, 224]
    stage = facts["stages"][1]
    assert {key: stage[key] for key in ("path", "depth", "width", "out_width", "stride", "out_shape")} == {
        "path": "stages.1", "depth": 4, "width": 128, "out_width": 512, "stride": 2, "out_shape": [512, 28, 28],
    }
    assert len(stage["blocks"]) == 4 and stage["blocks"][0]["path"] == "stages.1.0"
    assert sum(block["params"] for block in stage["blocks"]) == stage["params"]
    parts = [facts["stem"], *facts["stages"], facts["head"]]
    assert sum(part["params"] for part in parts) == facts["params"]
    assert sum(part["macs"] for part in parts) == facts["macs"]


def test_json_without_reference() -> None:
    assert json.loads(_build("resnet50c", "--json"))["reference"] is None


def test_plain_json_of_a_cifar_net() -> None:
    facts = json.loads(_build("resnet110", "--plain", "--json"))
    assert facts["name"] == "plain110" and facts["residual"] is False
    assert facts["params"] == PAPER_NUMBERS["plain110"].params


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resnet35"], "resnet35: no such file, and no shipped spec of that name; did you mean"),
        ([str(Path(__file__).parent)], f"{Path(__file__).parent}: is a folder, not a spec file"),
    ],
)
def test_bad_spec_is_one_line_and_exit_1(args: list[str], message: str) -> None:
    done = archgen_here("build", *args)
    assert done.code == 1
    assert done.stderr.startswith(message), done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_export_needs_out() -> None:
    result = runner.invoke(app, ["build", "resnet20", "--export", "onnx"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_build_never_imports_torch() -> None:
    code = (
        "import sys; from archgen.cli import main\n"
        "try:\n    main(['build', 'resnet50', '--json'])\nexcept SystemExit as exit:\n    assert not exit.code\n"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.slow
def test_export_writes_a_checked_file(tmp_path: Path) -> None:
    out = tmp_path / "resnet20.pt"
    result = runner.invoke(app, ["build", "resnet20", "--export", "torchscript", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert f"wrote {out} (torchscript, " in result.output


def test_every_shipped_spec_builds() -> None:
    for name in shipped_specs():
        assert name in _build(name)


def _trained_weights(spec: str, path: Path, *, seed: int) -> torch.nn.Module:
    """A `spec` network with weights no fresh build has (seeded noise), saved as a run saves them."""
    import archgen

    torch.manual_seed(seed)
    model = archgen.build_model(archgen.load_spec(spec)).eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor) * 0.1)
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, path)
    return model


@pytest.mark.slow
def test_export_writes_the_trained_weights_given(tmp_path: Path) -> None:
    """`--weights RUN/weights.safetensors`: the exported file computes what the trained model computes."""
    import onnxruntime

    weights, trained, fresh = tmp_path / "weights.safetensors", tmp_path / "trained.onnx", tmp_path / "fresh.onnx"
    model = _trained_weights("digits-resnet20", weights, seed=3)
    for out, extra in ((trained, ["--weights", str(weights)]), (fresh, [])):
        result = runner.invoke(app, ["build", "digits-resnet20", "--export", "onnx", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
    x = torch.randn(4, 1, 8, 8)
    expected = model(x).detach().numpy()

    def run(path: Path) -> Any:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]

    scale = abs(expected).max()  # noisy weights give logits in the hundreds: compare relative to them
    assert abs(run(trained) - expected).max() < 1e-5 * scale
    assert abs(run(fresh) - expected).max() > 1e-2 * scale  # control: without --weights it is another network


def test_export_weights_that_do_not_fit_name_the_tensors(tmp_path: Path) -> None:
    weights = tmp_path / "weights.safetensors"
    _trained_weights("digits-resnet20", weights, seed=0)
    result = runner.invoke(app, ["build", "digits-resnet56", "--export", "onnx", "--out", str(tmp_path / "x.onnx"),
                                 "--weights", str(weights)])
    assert result.exit_code == 1 and not (tmp_path / "x.onnx").exists()
    assert f"{weights} does not fit the network 'digits-resnet56' builds: " in str(result.exception)


def test_weights_without_export_is_a_usage_error(tmp_path: Path) -> None:
    assert runner.invoke(app, ["build", "resnet20", "--weights", str(tmp_path / "w.safetensors")]).exit_code == 2
