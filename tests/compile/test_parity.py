"""Compiled ImageNet nets equal torchvision's and timm's after `convert_state_dict` (REFERENCE.md, issue 2).

Random weights and randomised BN statistics (nothing is downloaded), loaded with strict=True,
compared in eval mode at 64x64 where only the structure matters: max abs difference <= 1e-5.
timm's resnet*d is not here: its avg-pool shortcut (ResNet-D) is outside the spec language.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import timm
import torch
import torchvision
from torch import nn

import archgen

TOLERANCE = 1e-5  # float32, eval mode (issue 2)
SIZE = 64

# (source, reference model name, archgen spec name); the 45M+ parameter nets are marked slow.
CASES = [
    *(("torchvision", name, name) for name in ("resnet18", "resnet34", "resnext50_32x4d")),
    ("torchvision", "resnet50", "resnet50-v1.5"),
    pytest.param("torchvision", "resnet101", "resnet101-v1.5", marks=pytest.mark.slow),
    pytest.param("torchvision", "resnet152", "resnet152-v1.5", marks=pytest.mark.slow),
    pytest.param("torchvision", "wide_resnet50_2", "wide_resnet50_2", marks=pytest.mark.slow),
    # timm keeps torchvision's names; its deeper copies add nothing the ones here do not cover.
    *(("timm", name, name) for name in ("resnet18", "resnet34", "resnet50c", "resnext50_32x4d")),
    ("timm", "resnet50", "resnet50-v1.5"),
]


def reference_model(source: str, name: str) -> nn.Module:
    factories: dict[str, Callable[[str], nn.Module]] = {
        "torchvision": lambda n: torchvision.models.get_model(n, weights=None),
        "timm": lambda n: timm.create_model(n, pretrained=False),
    }
    return factories[source](name)


@torch.no_grad()
def randomise(model: nn.Module, *, seed: int) -> None:
    """BN affine weights and running statistics away from their (1, 0) defaults, so a swapped BN shows."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.uniform_(0.5, 1.0, generator=generator)
            module.bias.normal_(0.0, 0.1, generator=generator)
            module.running_mean.normal_(0.0, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)


def converted_pair(source: str, name: str, spec_name: str) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    reference = reference_model(source, name)
    randomise(reference, seed=1)
    ours = archgen.build_model(archgen.load_spec(spec_name))
    ours.load_state_dict(archgen.convert_state_dict(reference.state_dict(), source=source), strict=True)
    return reference.eval(), ours.eval()


@torch.no_grad()
def max_abs_diff(a: nn.Module, b: nn.Module) -> float:
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    expected = a(x)
    assert expected.abs().max() > 1e-2  # a meaningful output, not all zeros
    return (expected - b(x)).abs().max().item()


@pytest.mark.parametrize(("source", "name", "spec_name"), CASES)
def test_converted_weights_give_the_same_outputs(source: str, name: str, spec_name: str) -> None:
    reference, ours = converted_pair(source, name, spec_name)
    assert max_abs_diff(reference, ours) <= TOLERANCE


def test_parity_tells_v1_from_v1_5() -> None:
    """The paper's v1 (stride in the 1x1) loads torchvision's v1.5 weights strictly but computes something else."""
    reference, _ = converted_pair("torchvision", "resnet50", "resnet50-v1.5")
    paper = archgen.build_model(archgen.load_spec("resnet50"))
    paper.load_state_dict(archgen.convert_state_dict(reference.state_dict()), strict=True)
    assert max_abs_diff(reference, paper.eval()) > 1e-2


@pytest.mark.parametrize(("name", "spec_name"), [("resnet50", "resnet50-v1.5"), ("resnet18", "resnet18")])
def test_features_only_equals_timms(name: str, spec_name: str) -> None:
    """`build_model(..., features_only=True)` is timm's `features_only=True`: channels, reductions, outputs."""
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False, features_only=True, out_indices=(1, 2, 3, 4))
    randomise(reference, seed=1)
    ours = archgen.build_model(archgen.load_spec(spec_name), features_only=True)
    ours.load_state_dict(archgen.convert_state_dict(reference.state_dict(), source="timm"), strict=True)
    assert (ours.channels, ours.reductions) == (reference.feature_info.channels(), reference.feature_info.reduction())
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        pairs = list(zip(reference.eval()(x), ours.eval()(x), strict=True))
    assert len(pairs) == 4
    assert all((a - b).abs().max() <= TOLERANCE for a, b in pairs)
