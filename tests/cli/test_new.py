"""`archgen new`: the written spec validates and analyses exactly as the shipped spec it stands for."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archgen import analyze, load_spec
from archgen.cli.app import app

runner = CliRunner()

# (family, depth, plain) -> the shipped spec with the same network
SHIPPED_TWINS = [
    ("cifar", 20, False, "resnet20"),
    ("cifar", 56, True, "plain56"),
    ("cifar", 110, False, "resnet110"),
    ("cifar", 1202, False, "resnet1202"),
    ("preact", 164, False, "resnet164"),
    ("preact", 1001, False, "resnet1001"),
    ("imagenet", 18, False, "resnet18"),
    ("imagenet", 34, True, "plain34"),
    ("imagenet", 50, False, "resnet50"),
    ("imagenet", 152, False, "resnet152"),
    ("torchvision", 50, False, "resnet50-v1.5"),
    ("torchvision", 101, False, "resnet101-v1.5"),
]


@pytest.mark.parametrize(("family", "depth", "plain", "twin"), SHIPPED_TWINS)
def test_written_spec_validates_and_equals_the_shipped_one(
    family: str, depth: int, plain: bool, twin: str, tmp_path: Path
) -> None:
    out = tmp_path / f"{twin}.toml"
    args = ["new", "--family", family, "--depth", str(depth), "--out", str(out), *(["--plain"] if plain else [])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    written, shipped = load_spec(out), load_spec(twin)
    assert analyze(written) == analyze(shipped)
    assert written.model_copy(update={"description": ""}) == shipped.model_copy(update={"description": ""})
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0


def test_stdout_is_a_commented_spec() -> None:
    result = runner.invoke(app, ["new", "--family", "cifar", "--depth", "110"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("# ResNet-110 for CIFAR-10 (He et al. 2016, Sec. 4.2): 6n+2 layers with n = 18;")
    assert "depths = [18, 18, 18]" in lines
    assert lines[lines.index("depths = [18, 18, 18]") - 1].startswith("# Rule form: blocks per stage")


def test_imagenet_50_is_bottleneck_3_4_6_3() -> None:
    result = runner.invoke(app, ["new", "--family", "imagenet", "--depth", "50"])
    assert 'block = "bottleneck"' in result.output and "depths = [3, 4, 6, 3]" in result.output


@pytest.mark.parametrize(
    ("family", "depth", "message"),
    [
        ("cifar", "100", "depth 100 is not 6n+2 with n >= 1; nearest: 98 (n=16) or 104 (n=17)"),
        ("preact", "100", "depth 100 is not 9n+2 with n >= 1; nearest: 92 (n=10) or 101 (n=11)"),
        ("cifar", "3", "depth 3 is not 6n+2 with n >= 1; nearest: 8 (n=1)"),
        ("imagenet", "40", "depth 40 is not an ImageNet ResNet depth; the imagenet family makes 18, 34, 50, 101, 152"),
    ],
)
def test_impossible_depths_are_refused_naming_possible_ones(family: str, depth: str, message: str) -> None:
    result = runner.invoke(app, ["new", "--family", family, "--depth", depth], terminal_width=400)
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # typer boxes and wraps usage errors


def test_unknown_family_is_a_usage_error() -> None:
    assert runner.invoke(app, ["new", "--family", "vgg", "--depth", "16"]).exit_code == 2


def test_help_names_every_family() -> None:
    text = runner.invoke(app, ["new", "--help"], terminal_width=200).output
    for family in ("cifar", "preact", "imagenet", "torchvision"):
        assert f"{family}:" in text


def test_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    out = tmp_path / "mine.toml"
    out.write_text("# mine\n")
    result = runner.invoke(app, ["new", "--family", "cifar", "--depth", "20", "-o", str(out)])
    assert result.exit_code == 1 and out.read_text() == "# mine\n"
    assert runner.invoke(app, ["new", "--family", "cifar", "--depth", "20", "-o", str(out), "--force"]).exit_code == 0
    assert load_spec(out).name == "resnet20"
