"""Exact shapes, parameters and multiply-accumulates of a spec, by integer arithmetic alone.

Counts follow REFERENCE.md: parameters include BN affine weights and the classifier bias but not
BN running statistics; MACs are those of convs and the classifier (no bias, BN, pooling or adds),
so FLOPs = 2 x MACs is what torch's FlopCounterMode reports. A test holds this module to the
compiled network for every shipped spec. Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from archgen.spec.schema import Body, NetSpec, Stage

Shape = tuple[int, int, int]  # (channels, height, width)


@dataclass(frozen=True)
class Cost:
    """Parameters and multiply-accumulates of some layers, for one image."""

    params: int = 0
    macs: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs)

    @property
    def flops(self) -> int:
        """FLOPs counted as 2 x MACs (a multiply and an add), as FlopCounterMode and thop report."""
        return 2 * self.macs


@dataclass(frozen=True)
class PartCost(Cost):
    """One named part of the network (stem, a block, head) and the shape it outputs."""

    path: str = ""
    out_shape: Shape = (0, 0, 0)


@dataclass(frozen=True)
class StageCost(Cost):
    """One stage: its canonical description, output shape and the cost of each block."""

    index: int = 0
    depth: int = 0
    width: int = 0
    out_width: int = 0
    stride: int = 1
    out_shape: Shape = (0, 0, 0)
    blocks: tuple[PartCost, ...] = ()


@dataclass(frozen=True)
class Complexity(Cost):
    """The whole network: input shape, stem, stages and head, with totals in `params` and `macs`."""

    name: str = ""
    input_shape: Shape = (0, 0, 0)
    stem: PartCost = PartCost()
    stages: tuple[StageCost, ...] = ()
    head: PartCost = PartCost()


def analyze(spec: NetSpec) -> Complexity:
    """Shapes, parameters and MACs of every part of the network `spec` describes."""
    input_shape = (spec.input.channels, spec.input.size, spec.input.size)
    stem = _stem(spec, input_shape)
    stages, shape = [], stem.out_shape
    for index, stage in enumerate(spec.body.resolved_stages()):
        stages.append(_stage(spec.body, index, stage, shape))
        shape = stages[-1].out_shape
    head = _head(spec, shape)
    total = sum((stage for stage in stages), stem + head)
    return Complexity(
        params=total.params,
        macs=total.macs,
        name=spec.name,
        input_shape=input_shape,
        stem=stem,
        stages=tuple(stages),
        head=head,
    )


# --- layer arithmetic ------------------------------------------------------------------------


def conv_out(size: int, kernel: int, stride: int) -> int:
    """Output size of a conv or pool with 'same'-style padding kernel // 2."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def _conv(
    in_channels: int, out_channels: int, kernel: int, stride: int, size: int, groups: int = 1
) -> tuple[Cost, int]:
    out = conv_out(size, kernel, stride)
    weights = out_channels * (in_channels // groups) * kernel * kernel
    return Cost(weights, weights * out * out), out


def _bn(channels: int) -> Cost:
    return Cost(params=2 * channels)


# --- parts -----------------------------------------------------------------------------------


def _stem(spec: NetSpec, shape: Shape) -> PartCost:
    channels, size, _ = shape
    width, norm = spec.stem.width, not spec.body.preact  # pre-activation nets normalise in the first block
    if spec.stem.kind == "cifar":
        cost, size = _conv(channels, width, 3, 1, size)
    elif spec.stem.kind == "imagenet":
        cost, size = _conv(channels, width, 7, 2, size)
    else:  # deep: 3x3/2 to width/2, 3x3 to width/2, 3x3 to width (timm's resnet*c/d stem)
        half = width // 2
        first, size = _conv(channels, half, 3, 2, size)
        second, size = _conv(half, half, 3, 1, size)
        third, size = _conv(half, width, 3, 1, size)
        cost = first + _bn(half) + second + _bn(half) + third
    if norm:
        cost += _bn(width)
    if spec.stem.kind != "cifar":
        size = conv_out(size, 3, 2)  # 3x3/2 max-pool
    return PartCost(cost.params, cost.macs, path="stem", out_shape=(width, size, size))


def _stage(body: Body, index: int, stage: Stage, shape: Shape) -> StageCost:
    blocks = []
    for position in range(stage.depth):
        stride = stage.stride if position == 0 else 1
        blocks.append(_block(body, f"stages.{index}.{position}", stage.width, stride, shape))
        shape = blocks[-1].out_shape
    total = sum(blocks, Cost())
    return StageCost(
        total.params, total.macs, index=index, depth=stage.depth, width=stage.width,
        out_width=stage.width * body.out_expansion, stride=stage.stride, out_shape=shape, blocks=tuple(blocks),
    )


def _block(body: Body, path: str, width: int, stride: int, shape: Shape) -> PartCost:
    in_channels, size, _ = shape
    out_channels = width * body.out_expansion
    branch, out_size = (_bottleneck if body.bottleneck else _basic)(body, in_channels, width, stride, size)
    cost = branch + _shortcut(body, in_channels, out_channels, stride, size)
    return PartCost(cost.params, cost.macs, path=path, out_shape=(out_channels, out_size, out_size))


def _basic(body: Body, in_channels: int, width: int, stride: int, size: int) -> tuple[Cost, int]:
    """conv3x3(/stride) BN ReLU conv3x3 BN; pre-activation: BN ReLU conv3x3 BN ReLU conv3x3."""
    first, size = _conv(in_channels, width, 3, stride, size, body.groups)
    second, size = _conv(width, width, 3, 1, size, body.groups)
    norms = _bn(in_channels) + _bn(width) if body.preact else _bn(width) + _bn(width)
    return first + second + norms, size


def _bottleneck(body: Body, in_channels: int, width: int, stride: int, size: int) -> tuple[Cost, int]:
    """conv1x1 BN ReLU conv3x3 BN ReLU conv1x1 BN; the stride in the 1x1 (v1) or the 3x3 (v1.5)."""
    inner, out_channels = body.inner_width(width), width * body.out_expansion
    stride_1x1, stride_3x3 = body.block_strides(stride)
    reduce, size = _conv(in_channels, inner, 1, stride_1x1, size)
    spatial, size = _conv(inner, inner, 3, stride_3x3, size, body.groups)
    expand, size = _conv(inner, out_channels, 1, 1, size)
    norms = _bn(in_channels) + _bn(inner) + _bn(inner) if body.preact else _bn(inner) + _bn(inner) + _bn(out_channels)
    return reduce + spatial + expand + norms, size


def _shortcut(body: Body, in_channels: int, out_channels: int, stride: int, size: int) -> Cost:
    if not body.projects(in_channels, out_channels, stride):
        return Cost()  # identity, or option A's zero padding: no parameters, no MACs
    projection, _ = _conv(in_channels, out_channels, 1, stride, size)
    # pre-activation projections take the already-normalised input and add no BN (He et al. 2016b)
    return projection if body.preact else projection + _bn(out_channels)


def _head(spec: NetSpec, shape: Shape) -> PartCost:
    channels = shape[0]
    classes = spec.input.classes
    cost = Cost(channels * classes + classes, channels * classes)
    if spec.body.preact:
        cost += _bn(channels)  # the final BN-ReLU of a pre-activation net
    return PartCost(cost.params, cost.macs, path="head", out_shape=(classes, 1, 1))
