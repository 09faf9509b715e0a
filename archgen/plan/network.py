"""The plan of a whole network from a spec: stem -> stages of blocks -> head, every layer with its module path.

Reads a validated spec; the only place a spec becomes layers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from archgen.plan.blocks import BlockPlan, plan_block
from archgen.plan.layers import Chain, Layer, LayerKind, Shape
from archgen.spec.schema import Body, NetSpec, Placement, Stage

_GLOBAL_POOLS: dict[str, LayerKind] = {"avg": "global_avgpool", "max": "global_maxpool"}

# A pre-activation net's first activation sits right after conv1 and its last "right after [the last unit's]
# element-wise addition" (He et al. 2016b, appendix): the stem stops where the first block's pre-activation
# begins, and the head starts with what the last block's sum lacks. (stem's last conv's followers, head's first)
_ENDS: dict[Placement, tuple[tuple[LayerKind, ...], tuple[LayerKind, ...]]] = {
    "original": (("bn", "relu"), ()),
    "bn_after_addition": (("bn", "relu"), ()),
    "relu_before_addition": (("bn", "relu"), ()),
    "relu_only_preactivation": (("bn",), ("relu",)),
    "full_preactivation": ((), ("bn", "relu")),
}


@dataclass(frozen=True, slots=True)
class PartPlan:
    """The stem or the head: a sequence of layers under one path."""

    path: str
    layers: tuple[Layer, ...]

    @property
    def out_shape(self) -> Shape:
        return self.layers[-1].out_shape


@dataclass(frozen=True, slots=True)
class StagePlan:
    """One stage: blocks of one width, of which only the first may change the shape (He et al. 2016, Sec. 3.3)."""

    index: int
    width: int
    """The spec's stage width (a bottleneck outputs width x expansion)."""
    stride: int
    blocks: tuple[BlockPlan, ...]

    @property
    def path(self) -> str:
        return f"stages.{self.index}"

    @property
    def out_shape(self) -> Shape:
        return self.blocks[-1].out_shape


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """The whole network: stem -> stages of blocks -> head, for one (channels, size, size) input."""

    input_shape: Shape
    stem: PartPlan
    stages: tuple[StagePlan, ...]
    head: PartPlan

    @property
    def reductions(self) -> tuple[int, ...]:
        """How many times smaller than the input each stage's output is: the product of strides (timm's reduction)."""
        reduction, reductions = 1, []
        for layer in self.stem.layers:
            reduction *= layer.stride
        for stage in self.stages:
            reduction *= stage.stride
            reductions.append(reduction)
        return tuple(reductions)

    def layers(self) -> Iterator[tuple[str, Layer]]:
        """Every layer with its module path ("stages.2.0.branch.conv1"), in the order the module registers them."""
        parts: list[PartPlan | BlockPlan] = [self.stem, *(block for stage in self.stages for block in stage.blocks)]
        for part in (*parts, self.head):
            for layer in part.layers:
                yield f"{part.path}.{layer.name}", layer


def plan(spec: NetSpec) -> NetworkPlan:
    """The layers of the network `spec` describes; the spec must be valid (widths divisible by groups, …)."""
    input_shape = (spec.input.channels, spec.input.size, spec.input.size)
    stem = _stem(spec, input_shape)
    stages, shape = [], stem.out_shape
    for index, stage in enumerate(spec.body.resolved_stages()):
        stages.append(_stage(spec.body, index, stage, shape))
        shape = stages[-1].out_shape
    return NetworkPlan(input_shape, stem, tuple(stages), _head(spec, shape))


def _stem(spec: NetSpec, shape: Shape) -> PartPlan:
    """cifar: 3x3 conv; imagenet: 7x7/2 conv + 3x3/2 max-pool; deep: three 3x3 convs (/2) + max-pool.

    Pre-activation nets leave the stem's last conv un-normalised (or, ReLU-only, un-activated): the first block's
    pre-activation follows it.
    """
    width, half = spec.stem.width, spec.stem.width // 2
    convs = {
        "cifar": [(width, 3, 1, 1)],
        "imagenet": [(width, 7, 2, 1)],
        "deep": [(half, 3, 2, 1), (half, 3, 1, 1), (width, 3, 1, 1)],  # timm's resnet*c/d stem
    }[spec.stem.kind]
    last, _ = _ENDS[spec.body.resolved_placement]
    layers = Chain(shape).convs(convs, last=last, numbered=len(convs) > 1)
    if spec.stem.kind != "cifar":
        layers.then("maxpool", "pool", kernel=3, stride=2)
    return PartPlan("stem", layers.done())


def _stage(body: Body, index: int, stage: Stage, shape: Shape) -> StagePlan:
    first = plan_block(body, shape, stage.width, stage.stride)
    # only the first block may change the shape: the others are one block repeated (the first, if it keeps it)
    keeps = stage.stride == 1 and first.out_shape == shape
    repeated = first if keeps or stage.depth == 1 else plan_block(body, first.out_shape, stage.width, 1)
    blocks = [first.at(f"stages.{index}.0")]
    blocks += [repeated.at(f"stages.{index}.{position}") for position in range(1, stage.depth)]
    return StagePlan(index, stage.width, stage.stride, tuple(blocks))


def _head(spec: NetSpec, shape: Shape) -> PartPlan:
    """(Pre-activation: the final BN-ReLU, or ReLU,) global pooling, flatten, dropout, the linear classifier."""
    layers = Chain(shape)
    for kind in _ENDS[spec.body.resolved_placement][1]:
        layers.then(kind, kind)
    layers.then(_GLOBAL_POOLS[spec.head.pool], "pool", size=1).then("flatten", "flatten")
    if spec.head.dropout > 0:
        layers.then("dropout", "dropout", rate=spec.head.dropout)
    return PartPlan("head", layers.then("fc", "fc", channels=spec.input.classes).done())
