"""A block of the plan: the layers before the split, the branch F, the shortcut and the layers after the sum.

Post-activation (He et al. 2016) and pre-activation (He et al. 2016b) blocks, with every shortcut option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archgen.plan.layers import Chain, Conv, Layer, Shape
from archgen.spec.schema import Body

BlockKind = Literal["post", "pre"]  # post-activation (He et al. 2016) or pre-activation (He et al. 2016b)
ShortcutInput = Literal["input", "before"]  # the block's x, or the output of the layers before the split


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One block: `after(branch(before(x)) + shortcut(s))`, s being x or before(x); each group a tuple of layers.

    Any group may be empty. A plain block has no shortcut (None); a residual one has a single "identity" or
    option A's "pad" layer, or a projection. Shortcut variants (scaling, gating, dropout) and activation placements
    (BN after the addition, ReLU before it) are other layers in these groups, or another `kind`.
    """

    path: str
    """"stages.i.j": the j-th block of the i-th stage, in the module, the build table and errors alike."""
    kind: BlockKind
    before: tuple[Layer, ...]
    """Layers on x before the branch and the shortcut split (pre-activation's BN-ReLU)."""
    branch: tuple[Layer, ...]
    """The residual function F."""
    shortcut: tuple[Layer, ...] | None
    shortcut_input: ShortcutInput
    """What the shortcut reads: x itself, or the output of `before` (a pre-activation projection)."""
    after: tuple[Layer, ...]
    """Layers on the sum (post-activation's ReLU)."""

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Every layer, in the order the module registers them: before, branch, shortcut, after."""
        return self.before + self.branch + (self.shortcut or ()) + self.after

    @property
    def out_shape(self) -> Shape:
        return (self.after or self.branch)[-1].out_shape

    def at(self, path: str) -> BlockPlan:
        """The same block (the very same layers) at another path: a stage's later blocks are one block repeated."""
        return BlockPlan(path, self.kind, self.before, self.branch, self.shortcut, self.shortcut_input, self.after)

    def repeats(self, other: BlockPlan) -> bool:
        """Whether this block is `other` at another path (the same Layer objects, as `at` makes)."""
        return (self.branch is other.branch and self.before is other.before and self.shortcut is other.shortcut
                and self.after is other.after)


def plan_block(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """The block of `body`'s kind reading `shape`, not yet placed (see `BlockPlan.at`)."""
    return (_pre_activation if body.preact else _post_activation)(body, shape, width, stride)


def _post_activation(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """relu(F(x) + shortcut(x)) (He et al. 2016): BN after every conv; the last ReLU acts on the sum."""
    branch = Chain(shape, "branch.").convs(_convs(body, width, stride), last=("bn",)).done()
    shortcut = _shortcut(body, shape, branch[-1].out_channels, stride, norm=True)
    after = Chain(branch[-1].out_shape).then("relu", "relu").done()
    return BlockPlan("", "post", (), branch, shortcut, "input", after)


def _pre_activation(body: Body, shape: Shape, width: int, stride: int) -> BlockPlan:
    """F(relu(bn(x))) + shortcut (He et al. 2016b): nothing acts on the identity path or the sum."""
    before = Chain(shape).then("bn", "bn").then("relu", "relu").done()
    branch = Chain(shape, "branch.").convs(_convs(body, width, stride), last=()).done()
    # a projection reads the normalised input and adds no BN of its own, as the paper's code; an identity reads x
    shortcut = _shortcut(body, shape, branch[-1].out_channels, stride, norm=False)
    reads: ShortcutInput = "before" if shortcut and shortcut[0].kind == "conv" else "input"
    return BlockPlan("", "pre", before, branch, shortcut, reads, ())


def _convs(body: Body, width: int, stride: int) -> list[Conv]:
    """The branch's convs (He et al. 2016, Fig. 5). basic: two 3x3, the first strided; bottleneck: 1x1 reduce,
    3x3 (grouped: ResNeXt), 1x1 expand, strided in the 1x1 (v1, the paper) or the 3x3 (v1.5, torchvision)."""
    if not body.bottleneck:
        return [(width, 3, stride, body.groups), (width, 3, 1, body.groups)]
    inner, (stride_1x1, stride_3x3) = body.inner_width(width), body.block_strides(stride)
    return [(inner, 1, stride_1x1, 1), (inner, 3, stride_3x3, body.groups), (width * body.out_expansion, 1, 1, 1)]


def _shortcut(body: Body, shape: Shape, out_channels: int, stride: int, *, norm: bool) -> tuple[Layer, ...] | None:
    """None in a plain net; option B/C's 1x1 projection (and BN if `norm`), option A's padding, or the identity."""
    if not body.residual:
        return None  # the plain net: the same layers, no shortcut (He et al. 2016, Sec. 4.1)
    in_channels = shape[0]
    layers = Chain(shape)
    if body.projects(in_channels, out_channels, stride):
        layers.then("conv", "shortcut.conv", channels=out_channels, stride=stride)
        if norm:
            layers.then("bn", "shortcut.bn")
    elif stride == 1 and in_channels == out_channels:
        layers.then("identity", "shortcut")
    else:  # option A: subsampled by the stride, the new channels zeros; no parameters
        layers.then("pad", "shortcut", channels=out_channels, stride=stride)
    return layers.done()
