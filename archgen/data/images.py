"""Image data held in memory: uint8 tensors of one square size per split, with labels and class names.

Every source loads into this; loaders, resizing and normalisation read it. Knows no source formats.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from archgen.errors import printable
from archgen.memory import allocating, rows_per_chunk

LEVELS = 256  # uint8
MIN_VARIANCE = 1e-12  # a constant channel normalises by 1e-6, not by zero


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
    files: str | None = None
    """A fingerprint of the files read (their names and sizes), for sources read from files."""

    def record(self) -> dict[str, object]:
        """What a run records about its data, so that a resume can tell the data changed (and say how)."""
        return {"source": self.source, "train images": len(self.train), "val images": len(self.val),
                "classes": self.classes, "class names": list(self.class_names), "image size": self.size,
                "channels": self.channels, "files": self.files}

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
        """The same data at `size`x`size` (antialiased bilinear), remembering the size it came from.

        Refused in one line, before anything is allocated, when the copies would not fit beside the images.
        """
        if size == self.size:
            return self
        count = len(self.train) + len(self.val)
        what = (f"{printable(self.source)}: resizing {count:,} {self.channels}-channel images from "
                f"{self.size}x{self.size} to {size}x{size}")
        with allocating(resize_bytes(count, self.channels, self.size, size), what):
            train, val = _resize(self.train, size), _resize(self.val, size)
        return replace(self, train=train, val=val, native_size=self.native_size or self.size)


def resize_bytes(count: int, channels: int, source: int, size: int) -> int:
    """What resizing `count` images from `source`² to `size`² allocates: the uint8 copies, and one chunk's
    float32 temporaries (the images, the pass between the two separable ones, the result)."""
    row = _resize_row_bytes(channels, source, size)
    return count * channels * size * size + min(count, rows_per_chunk(row)) * row


def _resize_row_bytes(channels: int, source: int, size: int) -> int:
    return 4 * channels * (source * source + source * size + size * size)


def resize_image(image: Tensor, size: int) -> Tensor:
    """One (C, H, W) uint8 image at `size`x`size`, exactly as `ImageData.resized` resizes it among the others."""
    return _resize(Split(image[None], torch.zeros(1, dtype=torch.int64)), size).images[0]


def _resize(split: Split, size: int) -> Split:
    """Chunk by chunk into one uint8 tensor; each image is resized alone, so chunking cannot change a pixel."""
    count, channels, source, _ = split.images.shape
    resized = torch.empty((count, channels, size, size), dtype=torch.uint8)
    rows = rows_per_chunk(_resize_row_bytes(channels, source, size))
    for start in range(0, count, rows):
        batch = split.images[start : start + rows].float()
        batch = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        resized[start : start + rows] = batch.round_().clamp_(0, 255)  # (n, C, size, size): whole numbers, exact
    return Split(resized, split.labels)


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, on the 0..1 scale.

    Exact at the data's precision: each channel's 256 levels are counted (no float copy of the images), the
    sums are integers, and mean and variance are one correctly rounded division each.
    """
    return stats_from_counts(level_counts(images))


def stats_from_counts(counts: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """`channel_stats` from (C, 256) level counts, which may be summed over batches first."""
    means, stds = [], []
    for channel in counts.tolist():  # Python integers: no sum can overflow
        pixels = sum(channel)
        total = sum(level * count for level, count in enumerate(channel))
        squares = sum(level * level * count for level, count in enumerate(channel))
        means.append(total / (pixels * 255))
        variance = (pixels * squares - total * total) / (pixels * 255) ** 2  # exact rational, rounded once
        stds.append(math.sqrt(max(variance, MIN_VARIANCE)))
    return tuple(means), tuple(stds)


def level_counts(images: Tensor) -> Tensor:
    """How many pixels of each channel hold each of the 256 levels: (C, 256) int64, in chunks of bounded bytes."""
    count, channels, height, width = images.shape
    counts = torch.zeros((channels, LEVELS), dtype=torch.int64)
    rows = rows_per_chunk(height * width)  # one channel of a chunk is copied to be counted
    for start in range(0, count, rows):
        for channel in range(channels):
            plane = images[start : start + rows, channel].reshape(-1)  # (n H W,) uint8
            counts[channel] += torch.bincount(plane, minlength=LEVELS)
    return counts


def files_fingerprint(paths: Sequence[Path], root: Path) -> str:
    """The files' names (relative to `root`) and sizes, hashed: what a resume checks is unchanged, without reading
    a pixel (the streamed catalogs write the same)."""
    digest, total = hashlib.sha256(), 0
    for path in paths:
        size = path.stat().st_size
        total += size
        digest.update(os.fsencode(path.relative_to(root)))
        digest.update(b"\0%d\n" % size)
    return f"{len(paths):,} files, {total:,} bytes, sha256 {digest.hexdigest()[:16]}"
