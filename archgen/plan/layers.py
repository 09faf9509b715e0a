"""A layer of the plan: one module's kind, name and shapes; and a chain that lays layers out in forward order.

Torch-free; what a layer costs is `analysis`'s business and what it becomes is `compile`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Shape = tuple[int, int, int]  # (channels, height, width) of one image

# "pad" is option A's shortcut (subsample, zero-pad the new channels); "identity" is the other shortcut.
# "gate" is He et al. 2016b's g(x) = sigmoid(1x1 conv(x) + b_g); "shortcut_dropout" their dropout on the shortcut.
LayerKind = Literal[
    "conv", "bn", "relu", "maxpool", "global_avgpool", "global_maxpool", "flatten", "dropout", "fc", "identity", "pad",
    "gate", "shortcut_dropout",
]
Conv = tuple[int, int, int, int]  # (out channels, kernel, stride, groups)


@dataclass(frozen=True, slots=True)
class Layer:
    """One module of the network: its kind, its name in its part, and the shapes it reads and writes."""

    kind: LayerKind
    name: str
    """The module path inside its part: "conv1" in the stem, "branch.conv1" or "shortcut.bn" in a block."""
    in_shape: Shape
    out_shape: Shape
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    rate: float = 0.0
    """Dropout only: the probability of zeroing an element."""
    init_bias: float = 0.0
    """Gate only: the value its bias b_g starts at (He et al. 2016b, Table 1)."""

    @property
    def in_channels(self) -> int:
        return self.in_shape[0]

    @property
    def out_channels(self) -> int:
        return self.out_shape[0]

    @property
    def out_size(self) -> int:
        """Elements of the output for one image (what pycls's `acts` adds up)."""
        channels, height, width = self.out_shape
        return channels * height * width


def conv_out(size: int, kernel: int, stride: int) -> int:
    """Output size of a conv or pool with 'same'-style padding kernel // 2 (every one in archgen)."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1



class Chain:
    """How the plan lays out a part or a group of a block: layers in forward order, each reading the shape the
    one before it writes, each named with `prefix` ("branch.")."""

    def __init__(self, shape: Shape, prefix: str = "") -> None:
        self.shape, self.prefix, self.layers = shape, prefix, list[Layer]()

    def then(self, kind: LayerKind, name: str, *, channels: int = 0, kernel: int = 1, stride: int = 1,
             groups: int = 1, rate: float = 0.0, init_bias: float = 0.0, size: int = 0) -> Chain:
        """Append a layer; channels default to the input's, the size to a kernel // 2-padded window's (or `size`).

        Maps are square, as the spec's input is.
        """
        in_channels, height, _ = self.shape
        if not size:
            size = height if kernel == stride == 1 else conv_out(height, kernel, stride)
        out = (channels or in_channels, size, size)
        self.layers.append(Layer(kind, self.prefix + name, self.shape, out, kernel, stride, groups, rate, init_bias))
        self.shape = out
        return self

    def convs(self, convs: list[Conv], *, last: tuple[LayerKind, ...], numbered: bool = True) -> Chain:
        """conv{i}-bn{i}-relu{i} for each conv but the last, which only `last` (part of BN-ReLU) follows."""
        for number, (channels, kernel, stride, groups) in enumerate(convs, 1):
            suffix = str(number) if numbered else ""
            self.then("conv", f"conv{suffix}", channels=channels, kernel=kernel, stride=stride, groups=groups)
            for kind in ("bn", "relu") if number < len(convs) else last:
                self.then(kind, f"{kind}{suffix}")
        return self

    def done(self) -> tuple[Layer, ...]:
        return tuple(self.layers)
