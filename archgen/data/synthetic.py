"""Synthetic images for benchmarks and tests: one random template per class plus noise, seeded.

Learnable on purpose (a test can expect better than chance); the same seed gives the same data.
"""

from __future__ import annotations

import torch

from archgen.data.images import ImageData, Split
from archgen.data.source import Synthetic

NOISE = 48.0  # pixel noise around each class template, on the 0..255 scale


def load_synthetic_data(shape: Synthetic, *, seed: int = 0) -> ImageData:
    generator = torch.Generator().manual_seed(seed)
    templates = torch.rand(shape.classes, shape.channels, shape.size, shape.size, generator=generator) * 255
    return ImageData(
        source=f"synthetic:{shape.channels}x{shape.size}x{shape.size},classes={shape.classes}",
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
