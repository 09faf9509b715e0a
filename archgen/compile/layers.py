"""The plan's layers as torch modules: a constructor for each kind of layer, and Sequentials of them.

Knows nothing of specs, blocks or counting: a `Layer` says what to build, this module only builds it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archgen.plan import Layer, LayerKind


class PadShortcut(nn.Module):
    """Option A: the identity, subsampled by the stride and zero-padded to the new width (no parameters)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]  # (N, C, ceil(H/s), ceil(W/s))
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))  # new channels are zeros
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


class Gate(nn.Conv2d):
    """g(x) = sigmoid(W_g x + b_g), "realized by a 1x1 convolutional layer" (He et al. 2016b, Sec. 3.1, after the
    Highway networks' gates); `initial_bias` is the b_g that `initialise` gives it (Table 1: 0, -6, -7)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, initial_bias: float) -> None:
        super().__init__(in_channels, out_channels, 1, stride, bias=True)
        self.initial_bias = initial_bias

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self._conv_forward(x, self.weight, self.bias))  # (N, C_out, H/s, W/s), each in (0, 1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, initial_bias={self.initial_bias}"


class ShortcutDropout(nn.Module):
    """Dropout on the shortcut as He et al. 2016b define it (Sec. 3.1, Fig. 2f): it "statistically imposes a scale
    of lambda with an expectation of 0.5 on the shortcut". So the dropout of their reference [11] (Hinton et al.
    2012): a 0/1 mask in training, unscaled, and the expectation 1 - rate at test; not nn.Dropout, which
    rescales by 1 / (1 - rate) in training so that the expectation stays 1."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return x * torch.empty_like(x).bernoulli_(1 - self.rate)  # each element kept with probability 1 - rate
        return x * (1 - self.rate)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


def _conv(layer: Layer) -> nn.Conv2d:
    """Bias-free, padded by kernel // 2: every conv in archgen is followed by a BN (or, pre-activation, a sum)."""
    return nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel, layer.stride, padding=layer.kernel // 2,
                     groups=layer.groups, bias=False)


# Every layer kind the plan names, and the module it becomes (STYLE 5: a closed set, a plain dict).
LAYERS: dict[LayerKind, Callable[[Layer], nn.Module]] = {
    "conv": _conv,
    "bn": lambda layer: nn.BatchNorm2d(layer.out_channels),
    "relu": lambda layer: nn.ReLU(inplace=True),
    "maxpool": lambda layer: nn.MaxPool2d(layer.kernel, layer.stride, padding=layer.kernel // 2),
    "global_avgpool": lambda layer: nn.AdaptiveAvgPool2d(1),
    "global_maxpool": lambda layer: nn.AdaptiveMaxPool2d(1),
    "flatten": lambda layer: nn.Flatten(1),
    "dropout": lambda layer: nn.Dropout(layer.rate),
    "fc": lambda layer: nn.Linear(layer.in_channels, layer.out_channels),
    "identity": lambda layer: nn.Identity(),
    "pad": lambda layer: PadShortcut(layer.in_channels, layer.out_channels, layer.stride),
    "gate": lambda layer: Gate(layer.in_channels, layer.out_channels, layer.stride, layer.init_bias),
    "shortcut_dropout": lambda layer: ShortcutDropout(layer.rate),
}


def build_layer(layer: Layer) -> nn.Module:
    return LAYERS[layer.kind](layer)


def sequential(layers: Iterable[Layer], prefix: str = "") -> nn.Sequential:
    """The layers in one Sequential, each under its name less `prefix` ("branch.conv1" -> "conv1")."""
    return nn.Sequential(OrderedDict((layer.name.removeprefix(prefix), build_layer(layer)) for layer in layers))


def modules(layers: Iterable[Layer]) -> dict[str, nn.Module]:
    """The layers by name, for a module that holds them as attributes (a block's `relu`)."""
    return {layer.name: build_layer(layer) for layer in layers}
