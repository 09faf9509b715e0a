"""Exact shapes, parameters, multiply-accumulates and activations of a spec: integer sums over its plan's layers.

Counts follow REFERENCE.md: parameters include BN affine weights and the classifier bias but not
BN running statistics; MACs are those of convs and the classifier (no bias, BN, pooling, adds, or the
element-wise products of He et al. 2016b's scales and gates),
so FLOPs = 2 x MACs is what torch's FlopCounterMode reports. The layers are `archgen.plan`'s, the
same the compiler builds, and a test holds the sums to the built module. Imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from archgen.plan import Layer, LayerKind, NetworkPlan, Shape, StagePlan, conv_out, plan
from archgen.spec.schema import NetSpec

__all__ = ["Complexity", "Cost", "PartCost", "Shape", "StageCost", "analyze", "conv_out", "layer_cost"]


@dataclass(frozen=True)
class Cost:
    """Parameters, multiply-accumulates and activations of some layers, for one image."""

    params: int = 0
    macs: int = 0
    acts: int = 0
    """Output elements of every conv, windowed pool and the classifier (pycls's "acts", Radosavovic et al. 2020):
    what the forward pass writes, not counting BN, ReLU, global pooling or the residual additions."""

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs, self.acts + other.acts)

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
    """The whole network: input shape, stem, stages and head, with totals in `params`, `macs` and `acts`."""

    name: str = ""
    input_shape: Shape = (0, 0, 0)
    stem: PartCost = PartCost()
    stages: tuple[StageCost, ...] = ()
    head: PartCost = PartCost()


def analyze(spec: NetSpec) -> Complexity:
    """Shapes, parameters, MACs and activations of every part of the network `spec` describes."""
    network: NetworkPlan = plan(spec)
    stem = _part(network.stem.path, network.stem.layers, network.stem.out_shape)
    head = _part(network.head.path, network.head.layers, network.head.out_shape)
    stages = tuple(_stage(stage) for stage in network.stages)
    total = sum(stages, stem + head)
    return Complexity(
        total.params, total.macs, total.acts,
        name=spec.name, input_shape=network.input_shape, stem=stem, stages=stages, head=head,
    )


def layer_cost(layer: Layer) -> Cost:
    """What one layer costs; layers with no weights and no output of their own cost nothing."""
    return Cost(*_COUNTS[layer.kind](layer))


# --- layers: (params, MACs, acts) ------------------------------------------------------------

Counts = tuple[int, int, int]


def _conv(layer: Layer) -> Counts:
    """out x in/groups x k x k weights, each applied at every output position (bias-free: a BN follows)."""
    params = layer.out_channels * (layer.in_channels // layer.groups) * layer.kernel * layer.kernel
    _, height, width = layer.out_shape
    return params, params * height * width, layer.out_size


def _gate(layer: Layer) -> Counts:
    """He et al. 2016b's g(x) = sigmoid(W_g x + b_g): a 1x1 conv with a bias (a parameter, not a MAC) per channel."""
    weights, macs, acts = _conv(layer)
    return weights + layer.out_channels, macs, acts


def _bn(layer: Layer) -> Counts:
    return 2 * layer.out_channels, 0, 0  # gamma and beta; the running statistics are buffers


def _fc(layer: Layer) -> Counts:
    weights = layer.in_channels * layer.out_channels
    return weights + layer.out_channels, weights, layer.out_size  # the bias adds parameters, not MACs


def _pool(layer: Layer) -> Counts:
    return 0, 0, layer.out_size


def _free(layer: Layer) -> Counts:
    return 0, 0, 0


# Every layer kind the plan names, with its count (a new kind must say what it costs).
_COUNTS: dict[LayerKind, Callable[[Layer], Counts]] = {
    "conv": _conv, "bn": _bn, "fc": _fc, "maxpool": _pool,
    "relu": _free, "global_avgpool": _free, "global_maxpool": _free, "flatten": _free, "dropout": _free,
    "identity": _free, "pad": _free, "gate": _gate, "shortcut_dropout": _free,
}


# --- parts -----------------------------------------------------------------------------------


def _part(path: str, layers: Iterable[Layer], out_shape: Shape) -> PartCost:
    params = macs = acts = 0
    for layer in layers:  # summed as integers: analysis runs on every spec validated and every trial proposed
        layer_params, layer_macs, layer_acts = _COUNTS[layer.kind](layer)
        params, macs, acts = params + layer_params, macs + layer_macs, acts + layer_acts
    return PartCost(params, macs, acts, path=path, out_shape=out_shape)


def _stage(stage: StagePlan) -> StageCost:
    blocks: list[PartCost] = []
    for position, block in enumerate(stage.blocks):
        if position and block.repeats(stage.blocks[position - 1]):  # the same layers: counted once per stage
            blocks.append(PartCost(blocks[-1].params, blocks[-1].macs, blocks[-1].acts, path=block.path,
                                   out_shape=block.out_shape))
        else:
            blocks.append(_part(block.path, block.layers, block.out_shape))
    total = sum(blocks, Cost())
    return StageCost(
        total.params, total.macs, total.acts, index=stage.index, depth=len(blocks), width=stage.width,
        out_width=stage.out_shape[0], stride=stage.stride, out_shape=stage.out_shape, blocks=tuple(blocks),
    )
