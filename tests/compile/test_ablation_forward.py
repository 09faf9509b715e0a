"""Each of He et al. 2016b's variants computes what the paper writes: every block's output equals a hand-written
forward of its formula (Fig. 2, Fig. 4), on the block's own weights; a wrong formula does not (controls).

Blocks run in eval mode with random weights and BN statistics, so that no BN is the identity and no scale hides.
Also: dropout on the shortcut as the paper's reference [11] defines it, gates initialised as Table 1 says, and
zero-init making each block the identity where the rules allow it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archgen import NetSpec, build_model, load_spec, parse_spec
from archgen.compile import Network
from archgen.compile.blocks import Block, PreActBlock
from archgen.compile.layers import Gate, ShortcutDropout

Reference = Callable[[Any, Tensor], Tensor]


def small(block: str = "basic", shortcut: str = "A", **body: Any) -> NetSpec:
    """Two stages of one block: the first keeps the shape (identity shortcut), the second halves and doubles it."""
    return parse_spec({
        "name": "small", "input": {"size": 8, "classes": 3}, "stem": {"kind": "cifar", "width": 4},
        "body": {"block": block, "depths": [1, 1], "width": 4, "shortcut": shortcut, **body},
    })


def randomised(spec: NetSpec) -> Network:
    torch.manual_seed(0)
    model = build_model(spec)
    assert isinstance(model, Network)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-1, 1)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def blocks_with_inputs(model: Network) -> list[tuple[nn.Module, Tensor, Tensor]]:
    """(block, its input, its output) for every block, from one forward of random images."""
    seen: list[tuple[nn.Module, Tensor, Tensor]] = []
    blocks = [block for stage in model.stages for block in stage]
    hooks = [block.register_forward_hook(lambda m, i, o: seen.append((m, i[0].clone(), o.clone()))) for block in blocks]
    with torch.no_grad():
        model(torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1)))
    for hook in hooks:
        hook.remove()
    return seen


# --- the paper's formulas, written out -----------------------------------------------------------------------


def conv(layer: nn.Conv2d, x: Tensor) -> Tensor:
    return F.conv2d(x, layer.weight, layer.bias, layer.stride, layer.padding, groups=layer.groups)


def bn(layer: nn.BatchNorm2d, x: Tensor) -> Tensor:
    return F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight, layer.bias, False, 0.0, layer.eps)


def identity_or_pad(x: Tensor, out: Tensor) -> Tensor:
    """Option A: x, or x subsampled by 2 with zero channels added (He et al. 2016, Sec. 3.3)."""
    if x.shape == out.shape:
        return x
    x = x[:, :, ::2, ::2]
    return torch.cat([x, torch.zeros_like(x)], dim=1)


def residual_function(b: Any, x: Tensor, *, last_bn: bool = True) -> Tensor:
    """A basic block's F: 3x3 conv, BN, ReLU, 3x3 conv (BN)."""
    f = conv(b.branch.conv2, F.relu(bn(b.branch.bn1, conv(b.branch.conv1, x))))
    return bn(b.branch.bn2, f) if last_bn else f


def gate(b: Any, x: Tensor) -> Tensor:
    """g(x) = sigmoid(W_g x + b_g), a 1x1 conv (He et al. 2016b, Sec. 3.1)."""
    return torch.sigmoid(F.conv2d(x, b.gate.weight, b.gate.bias, b.gate.stride))


def f_of_x(b: Any, x: Tensor) -> tuple[Tensor, Tensor]:
    f = residual_function(b, x)
    return f, identity_or_pad(x, f)


def original(b: Any, x: Tensor) -> Tensor:  # (a) relu(F(x) + x)
    f, h = f_of_x(b, x)
    return F.relu(f + h)


def bn_after_addition(b: Any, x: Tensor) -> Tensor:  # (b) relu(bn(F(x) + x)), F without its last BN
    f = residual_function(b, x, last_bn=False)
    return F.relu(bn(b.bn, f + identity_or_pad(x, f)))


def relu_before_addition(b: Any, x: Tensor) -> Tensor:  # (c) relu(F(x)) + x
    f, h = f_of_x(b, x)
    return F.relu(f) + h


def relu_only_preactivation(b: Any, x: Tensor) -> Tensor:  # (d) F(relu(x)) + x
    f = residual_function(b, F.relu(x))
    return f + identity_or_pad(x, f)


def full_preactivation(b: Any, x: Tensor) -> Tensor:  # (e) F(relu(bn(x))) + x, F ending in its conv
    f = residual_function(b, F.relu(bn(b.bn, x)), last_bn=False)
    return f + identity_or_pad(x, f)


def no_relu_after_addition(b: Any, x: Tensor) -> Tensor:
    f, h = f_of_x(b, x)
    return f + h


def bn_before_addition(b: Any, x: Tensor) -> Tensor:
    f = residual_function(b, x, last_bn=False)
    return F.relu(bn(b.bn, f) + identity_or_pad(x, f))


def shortcut_reads_relu(b: Any, x: Tensor) -> Tensor:
    return relu_only_preactivation(b, F.relu(x))  # relu(relu(x)) = relu(x): F unchanged, the identity activated


def shortcut_reads_bn_relu(b: Any, x: Tensor) -> Tensor:
    f = residual_function(b, F.relu(bn(b.bn, x)), last_bn=False)
    return f + identity_or_pad(F.relu(bn(b.bn, x)), f)


# Fig. 4 (a)-(e): each formula, and a wrong one (a neighbouring placement's) that must not match.
PLACEMENTS: dict[str, tuple[Reference, Reference]] = {
    "original": (original, no_relu_after_addition),
    "bn_after_addition": (bn_after_addition, bn_before_addition),
    "relu_before_addition": (relu_before_addition, original),
    "relu_only_preactivation": (relu_only_preactivation, shortcut_reads_relu),
    "full_preactivation": (full_preactivation, shortcut_reads_bn_relu),
}

# Fig. 2 (b)-(d), (f) on the original unit, each right and wrong.
SHORTCUTS: dict[str, tuple[dict[str, Any], Reference, Reference]] = {
    "constant scaling": (  # relu(F(x) + 0.5 x)
        {"shortcut_scale": 0.5},
        lambda b, x: (lambda f, h: F.relu(f + 0.5 * h))(*f_of_x(b, x)),
        lambda b, x: (lambda f, h: F.relu(0.5 * f + h))(*f_of_x(b, x)),
    ),
    "frozen gating": (  # relu(0.5 F(x) + 0.5 x)
        {"shortcut_scale": 0.5, "branch_scale": 0.5},
        lambda b, x: (lambda f, h: F.relu(0.5 * f + 0.5 * h))(*f_of_x(b, x)),
        lambda b, x: (lambda f, h: F.relu(f + 0.5 * h))(*f_of_x(b, x)),
    ),
    "exclusive gating": (  # relu(g(x) F(x) + (1 - g(x)) x)
        {"gate": "exclusive", "gate_bias": -1.0},
        lambda b, x: (lambda f, h, g: F.relu(g * f + (1 - g) * h))(*f_of_x(b, x), gate(b, x)),
        lambda b, x: (lambda f, h, g: F.relu((1 - g) * f + g * h))(*f_of_x(b, x), gate(b, x)),
    ),
    "shortcut-only gating": (  # relu(F(x) + (1 - g(x)) x)
        {"gate": "shortcut_only", "gate_bias": -1.0},
        lambda b, x: (lambda f, h, g: F.relu(f + (1 - g) * h))(*f_of_x(b, x), gate(b, x)),
        lambda b, x: (lambda f, h, g: F.relu(f + g * h))(*f_of_x(b, x), gate(b, x)),
    ),
    "dropout": (  # at test, the mask's expectation: relu(F(x) + 0.5 x)
        {"shortcut_dropout": 0.5},
        lambda b, x: (lambda f, h: F.relu(f + 0.5 * h))(*f_of_x(b, x)),
        lambda b, x: (lambda f, h: F.relu(f + h))(*f_of_x(b, x)),  # nn.Dropout at test: the identity
    ),
}


def check(spec: NetSpec, right: Reference, wrong: Reference) -> None:
    for block, x, out in blocks_with_inputs(randomised(spec)):
        torch.testing.assert_close(out, right(block, x), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(out, wrong(block, x), rtol=1e-3, atol=1e-3), "control: a wrong formula matched"


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_each_placement_computes_fig_4(placement: str) -> None:
    check(small(placement=placement), *PLACEMENTS[placement])


@pytest.mark.parametrize("name", sorted(SHORTCUTS))
def test_each_shortcut_computes_fig_2(name: str) -> None:
    fields, right, wrong = SHORTCUTS[name]
    check(small(**fields), right, wrong)


def test_exclusive_gating_under_full_pre_activation_gates_what_each_path_carries() -> None:
    """The two ablations compose: g(x) read from the block's x, F read from relu(bn(x))."""
    def right(b: Any, x: Tensor) -> Tensor:
        f = residual_function(b, F.relu(bn(b.bn, x)), last_bn=False)
        g = gate(b, x)
        return g * f + (1 - g) * identity_or_pad(x, f)

    def wrong(b: Any, x: Tensor) -> Tensor:
        f = residual_function(b, F.relu(bn(b.bn, x)), last_bn=False)
        g = gate(b, F.relu(bn(b.bn, x)))
        return g * f + (1 - g) * identity_or_pad(x, f)

    check(small(placement="full_preactivation", gate="exclusive", gate_bias=-1.0), right, wrong)


@pytest.mark.parametrize(("placement", "projection"), [
    ("relu_only_preactivation", lambda b, a: bn(b.shortcut.bn, conv(b.shortcut.conv, a))),  # BN after each conv
    ("full_preactivation", lambda b, a: conv(b.shortcut.conv, a)),  # the paper's code: no BN of its own
])
def test_a_pre_activation_projection_reads_the_pre_activated_input(
    placement: str, projection: Callable[[Any, Tensor], Tensor]
) -> None:
    """"when pre-activation is used, these projection shortcuts are also with pre-activation" (appendix)."""
    model = randomised(small("bottleneck", "B", placement=placement, expansion=2))
    for block, x, out in blocks_with_inputs(model):
        if isinstance(block.shortcut, nn.Sequential):
            activated = F.relu(x if block.bn is None else bn(block.bn, x))
            torch.testing.assert_close(out, block.branch(activated) + projection(block, activated))
            assert not torch.allclose(out, block.branch(activated) + projection(block, x), atol=1e-3)


def test_the_relu_only_pre_activation_leaves_x_intact_for_the_shortcut() -> None:
    """Its ReLU reads x itself, which the identity then adds: an in-place ReLU would add relu(x) instead."""
    block = randomised(small(placement="relu_only_preactivation")).stages[0][0]
    assert isinstance(block, PreActBlock) and isinstance(block.relu, nn.ReLU) and not block.relu.inplace
    x = torch.randn(2, 4, 8, 8)
    kept = x.clone()
    block(x)
    assert torch.equal(x, kept)


@pytest.mark.parametrize("body", [{"placement": placement} for placement in sorted(PLACEMENTS)] + [
    fields for fields, _, _ in SHORTCUTS.values()
], ids=[*sorted(PLACEMENTS), *SHORTCUTS])
def test_every_variant_trains_and_every_parameter_gets_a_gradient(body: dict[str, Any]) -> None:
    """As timm asserts for its models; F ending in a ReLU (Fig. 4c) once failed here: the sum written into the
    ReLU's output, which its backward needs."""
    torch.manual_seed(0)
    model = build_model(small(**body)).train()
    loss = model(torch.randn(4, 3, 8, 8)).logsumexp(dim=1).mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.abs().sum() > 0 for name, p in model.named_parameters() if "gate" in name or "bn" in name)


# --- dropout on the shortcut ---------------------------------------------------------------------------------


def test_shortcut_dropout_is_a_mask_whose_expectation_scales_by_one_minus_the_rate() -> None:
    """"Dropout statistically imposes a scale of lambda with an expectation of 0.5 on the shortcut" (Sec. 3.1): each
    element is kept as it is or zeroed in training, and scaled by 0.5 at test. Control: nn.Dropout keeps the
    expectation at 1, its kept elements doubled."""
    x = torch.rand(64, 16, 8, 8) + 1.0
    torch.manual_seed(0)
    dropout = ShortcutDropout(0.5).train()
    out = dropout(x)
    kept = out != 0
    assert torch.equal(out[kept], x[kept]) and abs(kept.float().mean().item() - 0.5) < 0.01
    assert abs((out / x).mean().item() - 0.5) < 0.01
    torch.testing.assert_close(dropout.eval()(x), 0.5 * x)
    inverted = nn.Dropout(0.5).train()(x)
    assert abs((inverted / x).mean().item() - 1.0) < 0.02 and not torch.equal(inverted[inverted != 0], x[inverted != 0])


def test_shortcut_dropout_in_training_drops_about_half_the_shortcut() -> None:
    """A whole block in training mode: F(x) + m x with m a 0/1 mask."""
    model = randomised(small(shortcut_dropout=0.5)).train()
    block = model.stages[0][0]
    assert isinstance(block, Block) and isinstance(block.shortcut, ShortcutDropout)
    torch.manual_seed(3)
    x = torch.randn(8, 4, 8, 8)
    torch.manual_seed(4)
    masked = block.shortcut(x)
    assert set(torch.unique(masked[x != 0] / x[x != 0]).tolist()) == {0.0, 1.0}


# --- gates start as the paper says ----------------------------------------------------------------------------


def test_every_gate_starts_at_its_b_g_with_he_initialised_weights() -> None:
    """Table 1's b_g is the gate's bias at the start; W_g is initialised "as in [23]" (He et al. 2015) as every conv."""
    torch.manual_seed(0)
    model = build_model(load_spec("resnet110-exclusive-gating-b-6"))
    gates = [module for module in model.modules() if isinstance(module, Gate)]
    assert len(gates) == 54 and all(torch.equal(g.bias, torch.full_like(g.bias, -6.0)) for g in gates)
    weights = torch.cat([g.weight.flatten() for g in gates if g.out_channels == 64])
    assert abs(weights.std().item() / (2 / 64) ** 0.5 - 1) < 0.05  # kaiming_normal_, fan_out = 64 x 1 x 1
    assert Gate(64, 64, 1, -6.0).bias.ne(-6.0).all()  # control: only `initialise` sets b_g


@pytest.mark.parametrize(("bias", "low", "high"), [(0.0, 0.45, 0.55), (-6.0, 0.98, 1.0)])
def test_b_g_sets_how_open_the_shortcut_starts(bias: float, low: float, high: float) -> None:
    """b_g = 0: "initially the expectation of 1 - g(x) is 0.5"; b_g = -6: "1 - g(x) is closer to 1 and the shortcut
    connection is nearly an identity mapping" (Sec. 3.1)."""
    torch.manual_seed(0)
    model = build_model(small(gate="shortcut_only", gate_bias=bias))
    block = model.stages[0][0]
    x = torch.relu(torch.randn(64, 4, 8, 8))  # what a block reads after a ReLU
    with torch.no_grad():
        opening = (1 - block.gate(x)).mean().item()
    assert low < opening < high


# --- zero-init: the identity where it is one -----------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {}, {"placement": "relu_before_addition"}, {"placement": "relu_only_preactivation"},
    {"placement": "full_preactivation"}, {"branch_scale": 0.5},
])
def test_zero_init_starts_every_identity_block_as_the_identity(body: dict[str, Any]) -> None:
    """With F's last BN (or, full pre-activation, conv) at zero, a block with an identity shortcut returns x.
    Control: without zero-init it does not."""
    for zero_init in (True, False):
        model = build_model(small(zero_init_residual=zero_init, **body)).train()
        block = model.stages[0][0]
        x = torch.relu(torch.randn(4, 4, 8, 8))  # a post-activation block reads a ReLU's output
        with torch.no_grad():
            assert torch.allclose(block(x.clone()), x) is zero_init
