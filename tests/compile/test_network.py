"""The compiled network reads like its spec: paths, plain vs residual, option A, zero-init, He init, gradients."""

from __future__ import annotations

import math
from typing import get_args

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archgen import NetSpec, analyze, build_model, load_spec, parse_spec
from archgen.compile import FeatureNetwork, Network
from archgen.compile.blocks import Block, PreActBlock
from archgen.compile.layers import LAYERS, PadShortcut
from archgen.plan import LayerKind

BLOCKS = ["basic", "bottleneck", "preact_basic", "preact_bottleneck"]
# The branch's last layer zero-init silences: torchvision's bn2/bn3; pre-activation branches end in a conv.
LAST_LAYER = {"basic": "bn2", "bottleneck": "bn3", "preact_basic": "conv2", "preact_bottleneck": "conv3"}


def tiny(block: str, *, shortcut: str = "B", residual: bool = True, zero_init: bool = False) -> NetSpec:
    """Two stages of two blocks on 16x16 inputs: every structural case, built in milliseconds."""
    return parse_spec({
        "name": f"tiny-{block}",
        "input": {"channels": 3, "size": 16, "classes": 5},
        "stem": {"kind": "cifar", "width": 8},
        "body": {"block": block, "depths": [2, 2], "width": 8, "shortcut": shortcut, "residual": residual,
                 "zero_init_residual": zero_init},
    })


def network(spec: NetSpec, device: str = "cpu") -> Network:
    with torch.device(device):
        model = build_model(spec)
    assert isinstance(model, Network)
    return model


def blocks(model: Network) -> list[nn.Module]:
    return [block for stage in model.stages for block in stage]


@pytest.mark.parametrize("name", ["resnet20", "resnet50", "resnet164", "resnext50_32x4d"])
def test_module_paths_mirror_the_spec(name: str) -> None:
    """`stages.2.0` names the same block in the analysis (build table) and in the module."""
    spec = load_spec(name)
    model = network(spec, "meta")
    paths = [block.path for stage in analyze(spec).stages for block in stage.blocks]
    assert [f"stages.{i}.{j}" for i, stage in enumerate(model.stages) for j in range(len(stage))] == paths
    assert all(isinstance(model.get_submodule(path), Block | PreActBlock) for path in paths)
    assert [len(stage) for stage in model.stages] == [stage.depth for stage in spec.body.resolved_stages()]
    assert [child for child, _ in model.named_children()] == ["stem", "stages", "head"]


@pytest.mark.parametrize(("residual", "plain"), [("resnet20", "plain20"), ("resnet110", "plain110"),
                                                 ("resnet18", "plain18"), ("resnet34", "plain34")])
def test_plain_net_is_the_residual_net_without_shortcuts(residual: str, plain: str) -> None:
    with_shortcuts, without = network(load_spec(residual), "meta"), network(load_spec(plain), "meta")
    assert all(block.shortcut is None for block in blocks(without))
    assert not any(isinstance(m, PadShortcut | nn.Identity) for m in without.modules())
    shapes = {name: p.shape for name, p in with_shortcuts.named_parameters() if ".shortcut." not in name}
    assert {name: p.shape for name, p in without.named_parameters()} == shapes
    if load_spec(residual).body.shortcut == "A":  # the paper: exactly the same parameters (Sec. 4.2)
        assert sum(p.numel() for p in with_shortcuts.parameters()) == sum(p.numel() for p in without.parameters())


@pytest.mark.parametrize("block", BLOCKS)
def test_residual_block_adds_its_input_and_plain_block_does_not(block: str) -> None:
    """The paper's F(x) + x on a block with an identity shortcut (stage 0, block 1)."""
    torch.manual_seed(0)
    residual, plain = network(tiny(block, shortcut="A")).eval(), network(tiny(block, residual=False)).eval()
    plain.load_state_dict(residual.state_dict())  # option A adds no parameters: the same weights load
    res, pl = residual.stages[0][1], plain.stages[0][1]
    x = torch.relu(torch.randn(2, res.branch[0].in_channels, 16, 16))
    with torch.no_grad():
        if block.startswith("preact"):
            branch = res.branch(F.relu(res.bn(x)))
            torch.testing.assert_close(res(x), branch + x)
            torch.testing.assert_close(pl(x), branch)
        else:
            torch.testing.assert_close(res(x), F.relu(res.branch(x) + x))
            torch.testing.assert_close(pl(x), F.relu(res.branch(x)))


def test_option_a_subsamples_and_zero_pads() -> None:
    x = torch.randn(2, 16, 9, 9)
    y = PadShortcut(16, 32, 2)(x)
    assert y.shape == (2, 32, 5, 5)  # ceil(9 / 2), as the 3x3/2 conv beside it
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert not y[:, 16:].any()


@pytest.mark.parametrize("block", BLOCKS)
def test_zero_init_makes_every_identity_block_the_identity(block: str) -> None:
    """Goyal et al. 2017: the branch's last BN (pre-activation: last conv) starts at zero."""
    zeroed, default = network(tiny(block, zero_init=True)).eval(), network(tiny(block)).eval()
    for model, expect_identity in ((zeroed, True), (default, False)):
        for path, module in model.named_modules():
            if isinstance(module, Block | PreActBlock) and isinstance(module.shortcut, nn.Identity):
                last = module.branch.get_submodule(LAST_LAYER[block])
                assert (not last.weight.any()) is expect_identity, path
                x = torch.relu(torch.randn(2, last.weight.shape[0], 16, 16))  # post-act blocks see ReLU outputs
                with torch.no_grad():
                    assert torch.equal(module(x), x) is expect_identity, path


def test_zero_init_leaves_plain_nets_alone() -> None:
    """A plain block has no identity to fall back on: zeroing its last BN would cut the signal."""
    model = network(tiny("basic", residual=False, zero_init=True))
    assert all(m.weight.eq(1).all() for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_he_initialisation() -> None:
    """He et al. 2015, fan-out mode as torchvision: conv std = sqrt(2 / (out_channels x k x k)); BN (1, 0)."""
    torch.manual_seed(0)
    model = network(load_spec("resnet18"))
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels * math.prod(module.kernel_size)
            assert module.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.05), name
            assert abs(module.weight.mean().item()) < 0.05 * math.sqrt(2 / fan_out), name
        elif isinstance(module, nn.BatchNorm2d):
            assert module.weight.eq(1).all() and module.bias.eq(0).all(), name
    bound = 1 / math.sqrt(model.head.fc.in_features)  # nn.Linear's own init, as torchvision keeps it
    assert model.head.fc.weight.abs().max() <= bound and model.head.fc.weight.std() > bound / 3


@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
@pytest.mark.parametrize("block", BLOCKS)
def test_every_parameter_receives_a_gradient(block: str, shortcut: str) -> None:
    """timm's check: no layer is left out of the graph, in the classifier or the backbone."""
    for features_only in (False, True):
        model = build_model(tiny(block, shortcut=shortcut, zero_init=True), features_only=features_only).train()
        out = model(torch.randn(2, 3, 16, 16))
        loss = sum(feature.mean() for feature in out) if features_only else out.mean()
        loss.backward()
        missing = [name for name, p in model.named_parameters() if p.grad is None]
        assert not missing, missing


def test_plain_net_gradients() -> None:
    model = network(tiny("basic", residual=False)).train()
    model(torch.randn(2, 3, 16, 16)).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "resnet164", "resnet50c"])
def test_features_only_returns_every_stage(name: str) -> None:
    """timm's features_only habit: one output per stage, with its channels and reduction stated."""
    spec = load_spec(name)
    with torch.device("meta"):
        features = build_model(spec, features_only=True)
        outputs = features(torch.randn(2, spec.input.channels, spec.input.size, spec.input.size))
    assert isinstance(features, FeatureNetwork)
    stages = analyze(spec).stages
    assert [tuple(o.shape) for o in outputs] == [(2, *stage.out_shape) for stage in stages]
    assert features.channels == [stage.out_shape[0] for stage in stages]
    assert features.reductions == [spec.input.size // stage.out_shape[1] for stage in stages]
    assert not hasattr(features, "head")


def test_every_layer_kind_has_a_module() -> None:
    """A kind added to the plan must say what it builds (the plan/module test then checks it one to one)."""
    assert sorted(LAYERS) == sorted(get_args(LayerKind))
