"""Residual blocks and shortcuts as torch modules: basic and bottleneck, post- and pre-activation.

A block is a branch F and, in a residual net, a shortcut: the paper's F(x) + x is one line of
`forward`, and a plain net is the same block without it. Knows nothing of specs.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """A bias-free conv with padding kernel // 2, as every conv before a BN (analysis counts the same)."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, groups=groups, bias=False)


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


def projection(in_channels: int, out_channels: int, stride: int, *, norm: bool) -> nn.Sequential:
    """Options B and C: a 1x1 conv (and BN, except in pre-activation blocks) to the block's output shape."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(conv=conv(in_channels, out_channels, 1, stride))
    if norm:
        layers["bn"] = nn.BatchNorm2d(out_channels)
    return nn.Sequential(layers)


class Block(nn.Module):
    """Post-activation block (He et al. 2016): relu(F(x) + shortcut(x)), or relu(F(x)) in a plain net."""

    def __init__(self, branch: nn.Sequential, shortcut: nn.Module | None) -> None:
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch(x)
        if self.shortcut is not None:
            out += self.shortcut(x)  # F(x) + x, in place as torchvision: one activation fewer per block
        return self.relu(out)

    def last_layer(self) -> nn.BatchNorm2d:
        """The layer that zero-init silences so the block starts as the identity: the branch's last BN."""
        last = self.branch[-1]
        assert isinstance(last, nn.BatchNorm2d)
        return last


class PreActBlock(nn.Module):
    """Pre-activation block (He et al. 2016b): F(bn-relu(x)) + x, leaving the identity path clean.

    A projection shortcut takes the normalised input, as in the paper's code; an identity takes x itself.
    """

    def __init__(self, in_channels: int, branch: nn.Sequential, shortcut: nn.Module | None) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)  # acts on bn(x), a new tensor: x survives for the shortcut
        self.branch = branch
        self.shortcut = shortcut
        self.project_normalised = isinstance(shortcut, nn.Sequential)

    def forward(self, x: Tensor) -> Tensor:
        normalised = self.relu(self.bn(x))
        out = self.branch(normalised)
        if self.shortcut is not None:
            out += self.shortcut(normalised if self.project_normalised else x)  # F(x) + x
        return out

    def last_layer(self) -> nn.Conv2d:
        """The branch's last conv: no BN follows it in a pre-activation branch."""
        last = self.branch[-1]
        assert isinstance(last, nn.Conv2d)
        return last


def basic_branch(in_channels: int, width: int, stride: int, *, groups: int, preact: bool) -> nn.Sequential:
    """Two 3x3 convs; the first carries the stride. Post-activation: conv-BN-ReLU, conv-BN."""
    if preact:  # the block's own BN-ReLU precedes conv1
        return nn.Sequential(OrderedDict(
            conv1=conv(in_channels, width, 3, stride, groups),
            bn1=nn.BatchNorm2d(width),
            relu1=nn.ReLU(inplace=True),
            conv2=conv(width, width, 3, 1, groups),
        ))
    return nn.Sequential(OrderedDict(
        conv1=conv(in_channels, width, 3, stride, groups),
        bn1=nn.BatchNorm2d(width),
        relu1=nn.ReLU(inplace=True),

        conv2=conv(width, width, 3, 1, groups),
        bn2=nn.BatchNorm2d(width),
    ))


def bottleneck_branch(
    in_channels: int, inner: int, out_channels: int, strides: tuple[int, int], *, groups: int, preact: bool
) -> nn.Sequential:
    """1x1 reduce, 3x3 (grouped), 1x1 expand; `strides` = (1x1 stride, 3x3 stride): v1 or v1.5."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv1=conv(in_channels, inner, 1, strides[0]),
        bn1=nn.BatchNorm2d(inner),
        relu1=nn.ReLU(inplace=True),
        conv2=conv(inner, inner, 3, strides[1], groups),
        bn2=nn.BatchNorm2d(inner),
        relu2=nn.ReLU(inplace=True),
        conv3=conv(inner, out_channels, 1),
    )
    if not preact:
        layers["bn3"] = nn.BatchNorm2d(out_channels)
    return nn.Sequential(layers)


@torch.no_grad()
def zero_init_last(block: nn.Module) -> None:
    """Zero the branch's last BN (or conv, pre-activation) so the block starts as the identity (Goyal et al. 2017)."""
    if isinstance(block, (Block, PreActBlock)) and block.shortcut is not None:
        nn.init.zeros_(block.last_layer().weight)
