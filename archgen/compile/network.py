"""Spec to `torch.nn.Module`: the plan's stem -> stages of blocks -> head, with module paths mirroring the spec.

`stages.2.0` is the first block of the third stage in the build table, in errors and in
`print(model)` alike: the analysis counts the same plan. Knows nothing of data or training.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from archgen.compile.blocks import build_block, zero_init_last
from archgen.compile.layers import Gate, sequential
from archgen.plan import plan
from archgen.spec.schema import NetSpec


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
    network_plan = plan(spec)
    stages = [nn.Sequential(*map(build_block, stage.blocks)) for stage in network_plan.stages]
    network = Network(sequential(network_plan.stem.layers), stages, sequential(network_plan.head.layers))
    initialise(network, zero_init_residual=spec.body.zero_init_residual)
    if features_only:
        channels = [stage.out_shape[0] for stage in network_plan.stages]
        return FeatureNetwork(network, channels, list(network_plan.reductions))
    return network


@torch.no_grad()
def initialise(network: Network, *, zero_init_residual: bool) -> None:
    """He initialisation of convs (He et al. 2015, fan-out as torchvision), BN at (1, 0); a gate's conv as any
    other ("the weights are initialized as in [23]", He et al. 2016b, appendix), its bias at the spec's b_g."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if isinstance(module, Gate) and module.bias is not None:  # b_g "is critical" (He et al. 2016b, 3.1)
                nn.init.constant_(module.bias, module.initial_bias)
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
