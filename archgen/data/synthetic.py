"""Synthetic images for benchmarks and tests: one random template per class plus noise, seeded.

Learnable on purpose, also under random crops and flips (templates are smooth: drawn at 4x4 and
upsampled), so a test can expect better than chance; the same seed gives the same data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from archgen.data.images import ImageData, Split
from archgen.data.source import DataSource, Synthetic

NOISE = 48.0  # pixel noise around each class template, on the 0..255 scale


def load_synthetic_data(shape: Synthetic, *, seed: int = 0) -> ImageData:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(shape.classes, shape.channels, 4, 4, generator=generator) * 255
    templates = F.interpolate(coarse, size=(shape.size, shape.size), mode="bilinear", align_corners=False)
    return ImageData(
        source=str(DataSource("synthetic", synthetic=shape)),
        train=_split(templates, shape.train, generator),
        val=_split(templates, shape.val, generator),
        class_names=tuple(f"class{index}" for index in range(shape.classes)),
    )


def _split(templates: torch.Tensor, count: int, generator: torch.Generator) -> Split:
    labels = torch.randint(templates.shape[0], (count,), generator=generator)
    images = torch.empty((count, *templates.shape[1:]), dtype=torch.uint8)
    for start in range(0, count, 1024):  # chunks keep the float copy small for big shapes
        chunk = labels[start : start + 1024]
        noise = torch.randn((len(chunk), *templates.shape[1:]), generator=generator) * NOISE
        images[start : start + 1024] = (templates[chunk] + noise).round_().clamp_(0, 255).to(torch.uint8)
    return Split(images, labels)
