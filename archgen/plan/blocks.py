"""A block of the plan: the layers before the split, the branch F, the shortcut and the layers after the sum.

Post-activation (He et al. 2016) and pre-activation (He et al. 2016b) blocks, with every shortcut option, and the
"Identity Mappings" ablations: where BN and ReLU sit (Fig. 4) and what acts on the shortcut (Fig. 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from archgen.plan.layers import Chain, Conv, Layer, LayerKind, Shape
from archgen.spec.schema import Body, Gating, Placement

BlockKind = Literal["post", "pre"]  # post-activation (He et al. 2016) or pre-activation (He et al. 2016b)
ShortcutInput = Literal["input", "before"]  # the block's x, or the output of the layers before the split


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One block: `after(branch(before(x)) + shortcut(s))`, s being x or before(x); each group a tuple of layers.

    Any group may be empty. A plain block has no shortcut (None); a residual one has a single "identity" or
    option A's "pad" layer, or a projection, and may end in dropout. How F and the shortcut h are added is He et al.
    2016b's Table 1: `branch_scale * F + shortcut_scale * h`, or with a gate g(x) (read from x), `g * F + (1 - g) * h`
    (exclusive) or `F + (1 - g) * h` (shortcut only).
    """

    path: str
    """"stages.i.j": the j-th block of the i-th stage, in the module, the build table and errors alike."""
    kind: BlockKind
    before: tuple[Layer, ...]
    """Layers on x before the branch and the shortcut split (pre-activation's BN-ReLU, or ReLU only)."""
    branch: tuple[Layer, ...]
    """The residual function F."""
    shortcut: tuple[Layer, ...] | None
    shortcut_input: ShortcutInput
    """What the shortcut reads: x itself, or the output of `before` (a pre-activation projection)."""
    after: tuple[Layer, ...]
    """Layers on the sum (post-activation's ReLU, or BN and ReLU)."""
    gate: Layer | None = None
    """g(x) = sigmoid(W_g x + b_g), reading the block's x (He et al. 2016b, Sec. 3.1); None without gating."""
    gating: Gating = "none"
    branch_scale: float = 1.0
    shortcut_scale: float = 1.0

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Every layer, in the order the module registers them: before, branch, shortcut, gate, after."""
        return self.before + self.branch + (self.shortcut or ()) + ((self.gate,) if self.gate else ()) + self.after

    @property
    def out_shape(self) -> Shape:
        return (self.after or self.branch)[-1].out_shape

    def at(self, path: str) -> BlockPlan:
        """The same block (the very same layers) at another path: a stage's later blocks are one block repeated."""
        return replace(self, path=path)

    def repeats(self, other: BlockPlan) -> bool:
        """Whether this block is `other` at another path (the same Layer objects, as `at` makes)."""
        return (self.branch is other.branch and self.before is other.before and self.shortcut is other.shortcut
                and self.after is other.after and self.gate is other.gate)


def plan_block(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """The block of `body`'s kind and placement reading `shape`, not yet placed (see `BlockPlan.at`)."""
    block = _PLACEMENTS[body.resolved_placement](body, shape, width, stride)
    if block.shortcut is None:
        return block  # a plain net: nothing to scale or gate
    return replace(block, gate=_gate(body, shape, block.out_shape, stride), gating=body.gate,
                   branch_scale=body.branch_scale, shortcut_scale=body.shortcut_scale)


# --- placements of BN and ReLU (He et al. 2016b, Fig. 4; all five have the same layers) ---------------------


def _original(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """(a) relu(F(x) + shortcut(x)) (He et al. 2016): BN after every conv; the last ReLU acts on the sum."""
    branch = Chain(shape, "branch.").convs(_convs(body, width, stride), last=("bn",)).done()
    return _post_activation(body, shape, stride, branch, after=("relu",))


def _bn_after_addition(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """(b) relu(bn(F(x) + shortcut(x))): F's last BN moves onto the sum, so it acts on the shortcut's signal too."""
    branch = Chain(shape, "branch.").convs(_convs(body, width, stride), last=()).done()
    return _post_activation(body, shape, stride, branch, after=("bn", "relu"))


def _relu_before_addition(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """(c) relu(F(x)) + shortcut(x): the last ReLU ends F, so F is never negative and nothing acts on the sum."""
    branch = Chain(shape, "branch.").convs(_convs(body, width, stride), last=("bn", "relu")).done()
    return _post_activation(body, shape, stride, branch, after=())


def _relu_only_preactivation(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """(d) F(relu(x)) + shortcut: the ReLU moves before F; BN still follows every conv, a projection's too."""
    before = Chain(shape).then("relu", "relu").done()
    branch = Chain(shape, "branch.").convs(_convs(body, width, stride), last=("bn",)).done()
    return _pre_activation(body, shape, stride, before, branch, norm=True)


def _full_preactivation(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """(e) F(relu(bn(x))) + shortcut (He et al. 2016b): nothing acts on the identity path or the sum."""
    before = Chain(shape).then("bn", "bn").then("relu", "relu").done()
    branch = Chain(shape, "branch.").convs(_convs(body, width, stride), last=()).done()
    # a projection reads the normalised input and adds no BN of its own, as the paper's code
    return _pre_activation(body, shape, stride, before, branch, norm=False)


def _post_activation(
    body: Body, shape: Shape, stride: int, branch: tuple[Layer, ...], *, after: tuple[LayerKind, ...]
) -> BlockPlan:
    """A block whose shortcut reads x itself and whose `after` layers act on the sum."""
    shortcut = _shortcut(body, shape, branch[-1].out_channels, stride, norm=True)
    layers = Chain(branch[-1].out_shape)
    for kind in after:
        layers.then(kind, kind)
    return BlockPlan("", "post", (), branch, shortcut, "input", layers.done())


def _pre_activation(
    body: Body, shape: Shape, stride: int, before: tuple[Layer, ...], branch: tuple[Layer, ...], *, norm: bool
) -> BlockPlan:
    """A block whose `before` layers feed F (and a projection: "also with pre-activation", He et al. 2016b,
    appendix); an identity or option A's padding reads x, and nothing acts on the sum."""
    shortcut = _shortcut(body, shape, branch[-1].out_channels, stride, norm=norm)
    reads: ShortcutInput = "before" if shortcut and shortcut[0].kind == "conv" else "input"
    return BlockPlan("", "pre", before, branch, shortcut, reads, ())


_PLACEMENTS: dict[Placement, Callable[[Body, Shape, int, int], BlockPlan]] = {
    "original": _original,
    "bn_after_addition": _bn_after_addition,
    "relu_before_addition": _relu_before_addition,
    "relu_only_preactivation": _relu_only_preactivation,
    "full_preactivation": _full_preactivation,
}


# --- the branch, the shortcut and the gate ----------------------------------------------------------------------


def _convs(body: Body, width: int, stride: int) -> list[Conv]:
    """The branch's convs (He et al. 2016, Fig. 5). basic: two 3x3, the first strided; bottleneck: 1x1 reduce,
    3x3 (grouped: ResNeXt), 1x1 expand, strided in the 1x1 (v1, the paper) or the 3x3 (v1.5, torchvision)."""
    if not body.bottleneck:
        return [(width, 3, stride, body.groups), (width, 3, 1, body.groups)]
    inner, (stride_1x1, stride_3x3) = body.inner_width(width), body.block_strides(stride)
    return [(inner, 1, stride_1x1, 1), (inner, 3, stride_3x3, body.groups), (width * body.out_expansion, 1, 1, 1)]


def _shortcut(body: Body, shape: Shape, out_channels: int, stride: int, *, norm: bool) -> tuple[Layer, ...] | None:
    """None in a plain net; option B/C's 1x1 projection (and BN if `norm`), option A's padding, or the identity;
    then, if the spec asks, dropout on its output (He et al. 2016b, Fig. 2f)."""
    if not body.residual:
        return None  # the plain net: the same layers, no shortcut (He et al. 2016, Sec. 4.1)
    in_channels, dropout = shape[0], body.shortcut_dropout
    layers = Chain(shape)
    if body.projects(in_channels, out_channels, stride):
        layers.then("conv", "shortcut.conv", channels=out_channels, stride=stride)
        if norm:
            layers.then("bn", "shortcut.bn")
    elif stride == 1 and in_channels == out_channels:
        if not dropout:
            layers.then("identity", "shortcut")
    else:  # option A: subsampled by the stride, the new channels zeros; no parameters
        layers.then("pad", "shortcut.pad" if dropout else "shortcut", channels=out_channels, stride=stride)
    if dropout:  # "on the output of the identity shortcut": alone, the dropout is the whole shortcut
        layers.then("shortcut_dropout", "shortcut.dropout" if layers.layers else "shortcut", rate=dropout)
    return layers.done()


def _gate(body: Body, shape: Shape, out_shape: Shape, stride: int) -> Layer | None:
    """g(x) = sigmoid(W_g x + b_g), "realized by a 1x1 convolutional layer" on the block's x (He et al. 2016b,
    Sec. 3.1); where the block changes the shape it is strided and widened, as a projection is, to match F."""
    if body.gate == "none":
        return None
    layers = Chain(shape).then("gate", "gate", channels=out_shape[0], stride=stride, init_bias=body.resolved_gate_bias)
    return layers.done()[0]
