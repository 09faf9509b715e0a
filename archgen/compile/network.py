"""Spec to `torch.nn.Module`: stem -> stages of blocks -> head, with module paths mirroring the spec.

`stages.2.0` is the first block of the third stage in the build table, in errors and in
`print(model)` alike. Reads the spec; knows nothing of analysis, data or training.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from archgen.compile.blocks import (
    Block,
    PadShortcut,
    PreActBlock,
    basic_branch,
    bottleneck_branch,
    conv,
    projection,
    zero_init_last,
)
from archgen.spec.schema import Body, NetSpec, Stem


class Network(nn.Module):
    """A residual or plain network: stem, stages of blocks, head; `forward` returns logits."""

    def __init__(self, stem: nn.Sequential, stages: list[nn.Sequential], head: nn.Sequential) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(x)  # (N, classes)


class FeatureNetwork(nn.Module):
    """A backbone (timm's `features_only`): the stem and stages of a `Network`, returning every stage's output."""

    def __init__(self, network: Network, channels: list[int], reductions: list[int]) -> None:
        super().__init__()
        self.stem = network.stem
        self.stages = network.stages
        self.channels = channels
        """Output channels of each stage."""
        self.reductions = reductions
        """How many times smaller than the input each stage's output is."""

    def forward(self, x: Tensor) -> list[Tensor]:
        """Outputs of every stage, (N, C_i, H/r_i, W/r_i): what detection and segmentation necks consume."""
        features = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def build_model(spec: NetSpec, *, features_only: bool = False) -> nn.Module:
    """Compile a validated spec: a `Network` (logits), or with `features_only` a `FeatureNetwork`."""
    body = spec.body
    stem = build_stem(spec.stem, spec.input.channels, preact=body.preact)
    stages, in_channels = [], spec.stem.width
    reduction = 1 if spec.stem.kind == "cifar" else 4
    channels, reductions = [], []
    for stage in body.resolved_stages():
        out_channels = stage.width * body.out_expansion
        blocks = [build_block(body, in_channels, stage.width, stage.stride)]  # only the first may change shape
        blocks += [build_block(body, out_channels, stage.width, 1) for _ in range(stage.depth - 1)]
        stages.append(nn.Sequential(*blocks))
        in_channels, reduction = out_channels, reduction * stage.stride
        channels.append(out_channels)
        reductions.append(reduction)
    network = Network(stem, stages, build_head(spec, in_channels))
    initialise(network, zero_init_residual=body.zero_init_residual)
    if features_only:
        return FeatureNetwork(network, channels, reductions)
    return network


def build_stem(stem: Stem, in_channels: int, *, preact: bool) -> nn.Sequential:
    """cifar: 3x3 conv; imagenet: 7x7/2 conv + 3x3/2 max-pool; deep: three 3x3 convs (/2) + max-pool.

    Pre-activation nets leave the stem's last conv un-normalised: the first block normalises it.
    """
    width, half = stem.width, stem.width // 2
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if stem.kind == "deep":
        layers.update(
            conv1=conv(in_channels, half, 3, 2), bn1=nn.BatchNorm2d(half), relu1=nn.ReLU(inplace=True),
            conv2=conv(half, half, 3), bn2=nn.BatchNorm2d(half), relu2=nn.ReLU(inplace=True),
            conv3=conv(half, width, 3),
        )
        last = "3"
    else:
        layers["conv"] = conv(in_channels, width, 3) if stem.kind == "cifar" else conv(in_channels, width, 7, 2)
        last = ""
    if not preact:
        layers[f"bn{last}"] = nn.BatchNorm2d(width)
        layers[f"relu{last}"] = nn.ReLU(inplace=True)
    if stem.kind != "cifar":
        layers["pool"] = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    return nn.Sequential(layers)


def build_block(body: Body, in_channels: int, width: int, stride: int) -> nn.Module:
    """One block of the body's kind; a shortcut only in residual nets (option A pads, B/C project)."""
    out_channels = width * body.out_expansion
    if body.bottleneck:
        branch = bottleneck_branch(
            in_channels, body.inner_width(width), out_channels, body.block_strides(stride),
            groups=body.groups, preact=body.preact,
        )
    else:
        branch = basic_branch(in_channels, width, stride, groups=body.groups, preact=body.preact)
    shortcut = build_shortcut(body, in_channels, out_channels, stride)
    if body.preact:
        return PreActBlock(in_channels, branch, shortcut)
    return Block(branch, shortcut)


def build_shortcut(body: Body, in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    if not body.residual:
        return None  # the plain net: the same layers, no shortcut
    if body.projects(in_channels, out_channels, stride):
        return projection(in_channels, out_channels, stride, norm=not body.preact)
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return PadShortcut(in_channels, out_channels, stride)


def build_head(spec: NetSpec, channels: int) -> nn.Sequential:
    """(Pre-activation: final BN-ReLU,) global pooling, dropout, linear classifier."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if spec.body.preact:
        layers["bn"] = nn.BatchNorm2d(channels)
        layers["relu"] = nn.ReLU(inplace=True)
    layers["pool"] = nn.AdaptiveAvgPool2d(1) if spec.head.pool == "avg" else nn.AdaptiveMaxPool2d(1)
    layers["flatten"] = nn.Flatten(1)
    if spec.head.dropout > 0:
        layers["dropout"] = nn.Dropout(spec.head.dropout)
    layers["fc"] = nn.Linear(channels, spec.input.classes)
    return nn.Sequential(layers)


@torch.no_grad()
def initialise(network: Network, *, zero_init_residual: bool) -> None:
    """He initialisation of convs (He et al. 2015, fan-out as torchvision), BN at (1, 0)."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in network.modules():
            zero_init_last(module)  # residual blocks only; plain blocks would lose their signal


@torch.no_grad()
def estimate_norm_statistics(model: nn.Module, input_shape: tuple[int, int, int, int], *, batches: int = 4) -> None:
    """Set every BN's running statistics to their average over `batches` random normal batches of `input_shape`.

    A freshly initialised net normalises with mean 0 and variance 1 in eval mode, so BN does nothing and
    each residual addition doubles the signal: ResNet-1202's 600 additions overflow to NaN. With statistics
    measured as training would measure them, a fresh net's eval outputs are finite and O(1), so an export
    of it can be compared with torch. Weights are untouched; the seed is fixed (the same net, the same
    statistics).
    """
    norms = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    training = model.training
    generator = torch.Generator().manual_seed(0)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the batches
        model.train()
        for _ in range(batches):
            model(torch.randn(input_shape, generator=generator).to(device))
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.train(training)
