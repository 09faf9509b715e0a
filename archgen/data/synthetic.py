"""Synthetic images for benchmarks and tests: one random template per class plus noise, seeded.

Learnable on purpose, also under random crops and flips (templates are smooth: drawn at 4x4 and
upsampled), so a test can expect better than chance; the same seed gives the same data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from archgen.data.images import ImageData, Split
from archgen.data.source import DataSource, Synthetic
from archgen.memory import allocating, rows_per_chunk

NOISE = 48.0  # pixel noise around each class template, on the 0..255 scale
COARSE = 4  # templates are drawn at 4x4, then upsampled
DRAW = 1024  # images per draw of noise: smaller chunks that divide it draw the same numbers (see _rows)
FLOATS = 3  # float32 copies a chunk holds: its noise, each image's template, the distinct templates it uses


def load_synthetic_data(shape: Synthetic, *, seed: int = 0) -> ImageData:
    """`shape.train` and `shape.val` images, refused in one line before anything is drawn if they would not fit."""
    count = shape.train + shape.val
    what = (f"generating {count:,} synthetic {shape.channels}x{shape.size}x{shape.size} images "
            f"of {shape.classes:,} classes")
    with allocating(synthetic_bytes(shape), what):
        generator = torch.Generator().manual_seed(seed)
        coarse = torch.rand(shape.classes, shape.channels, COARSE, COARSE, generator=generator) * 255  # (K, C, 4, 4)
        train = _split(coarse, shape.train, shape.size, generator)
        val = _split(coarse, shape.val, shape.size, generator)
    return ImageData(
        source=str(DataSource("synthetic", synthetic=shape)),
        train=train,
        val=val,
        class_names=tuple(f"class{index}" for index in range(shape.classes)),
    )


def synthetic_bytes(shape: Synthetic) -> int:
    """The peak of generating: the uint8 images and int64 labels kept, the coarse templates, one chunk's floats."""
    pixels = shape.channels * shape.size**2
    kept = (shape.train + shape.val) * (pixels + 8)
    coarse = shape.classes * shape.channels * COARSE * COARSE * 4
    return kept + coarse + min(max(shape.train, shape.val), _rows(pixels)) * FLOATS * 4 * pixels


def _rows(pixels: int) -> int:
    """Images per chunk: the largest power of two up to DRAW whose floats fit the chunk budget.

    torch draws normals 16 at a time within one call, so chunks that divide DRAW give the numbers a single
    draw of DRAW images gave (the data of a seed stay the same) whenever a chunk holds a multiple of 16
    numbers: always, except for images too big for 16 of them to fit the budget.
    """
    fit = rows_per_chunk(FLOATS * 4 * pixels)
    return min(DRAW, 1 << (fit.bit_length() - 1))


def _split(coarse: torch.Tensor, count: int, size: int, generator: torch.Generator) -> Split:
    labels = torch.randint(coarse.shape[0], (count,), generator=generator)
    images = torch.empty((count, coarse.shape[1], size, size), dtype=torch.uint8)
    rows = min(count, _rows(images[0].numel())) if count else 1
    # two float buffers reused by every chunk: chunks freed and allocated anew would stay in malloc's heap
    noise, gathered = torch.empty((2, rows, *images.shape[1:]))  # (rows, C, H, W) each
    for start in range(0, count, rows):
        chunk = labels[start : start + rows]
        present, index = chunk.unique(return_inverse=True)  # upsample only the templates this chunk uses
        templates = F.interpolate(coarse[present], size=(size, size), mode="bilinear", align_corners=False)
        torch.randn(noise[: len(chunk)].shape, generator=generator, out=noise[: len(chunk)]).mul_(NOISE)
        torch.index_select(templates, 0, index, out=gathered[: len(chunk)])  # each image's template
        pixels = noise[: len(chunk)].add_(gathered[: len(chunk)]).round_().clamp_(0, 255)
        images[start : start + rows] = pixels  # whole numbers: exact in uint8
    return Split(images, labels)
