"""Image data held in memory: uint8 tensors of one square size per split, with labels and class names.

Every source loads into this; loaders, resizing and normalisation read it. Knows no source formats.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Split:
    """Images (N, C, H, W) as uint8 and their labels (N,) as int64."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class ImageData:
    """A training and a validation split of one image shape, and what the images are."""

    source: str
    """The `--data` text it came from."""
    train: Split
    val: Split
    class_names: tuple[str, ...]
    mirror: bool = True
    """Whether a horizontal flip keeps an image's class (true for photos, false for handwritten digits)."""
    native_size: int | None = None
    """The images' size on disk when they were resized on loading (e.g. mixed sizes), else None."""

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def size(self) -> int:
        return int(self.train.images.shape[2])

    @property
    def classes(self) -> int:
        return len(self.class_names)

    def resized(self, size: int) -> ImageData:
        """The same data at `size`x`size` (antialiased bilinear), remembering the size it came from."""
        if size == self.size:
            return self
        native = self.native_size or self.size
        return replace(self, train=_resize(self.train, size), val=_resize(self.val, size), native_size=native)


def _resize(split: Split, size: int, chunk: int = 4096) -> Split:
    parts = []
    for start in range(0, len(split), chunk):
        batch = split.images[start : start + chunk].float()
        batch = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        parts.append(batch.round_().clamp_(0, 255).to(torch.uint8))  # (n, C, size, size)
    return Split(torch.cat(parts), split.labels)


def channel_stats(images: Tensor, chunk: int = 8192) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, on the 0..1 scale (float64 sums)."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        batch = images[start : start + chunk].to(torch.float64) / 255
        total += batch.sum(dim=(0, 2, 3))
        squares += batch.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(1e-12).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())
