"""Batches of in-memory images made one image at a time by the recipe's views: the ImageNet augmentations, colour
noise, and validation images resized before their centre crop or ten crops.

Each image's random choices are drawn from (seed, epoch, index) as the streamed workers draw them, so a resumed
epoch makes the same batches. The views resize each image to its own size, so batches are made on the host (not
captured as a CUDA graph), from the images as they are held (at the network's size). Knows nothing of training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from archgen.data.images import Split
from archgen.data.views import Normalise, Views


class ViewBatches:
    """(images (B, C, S, S) float32 normalised, labels (B,) int64) of one in-memory split, on the device; ten-crop
    validation batches are (B, 10, C, S, S)."""

    resident = False  # made on the host, image by image
    capturable = False

    def __init__(self, split: Split, views: Views, *, train: bool, normalise: Normalise, seed: int,
                 device: torch.device) -> None:
        self.split, self.views, self.train, self.normalise = split, views, train, normalise
        self.seed, self.device = seed, device

    def batches(self, epoch: int, order: Tensor, cuts: Sequence[slice]) -> Iterator[tuple[Tensor, Tensor]]:
        for cut in cuts:
            yield self.make(order[cut], epoch)

    def make(self, index: Tensor, epoch: int) -> tuple[Tensor, Tensor]:
        """The samples `index` of `epoch`, made and normalised on the device."""
        images, shifts = [], []
        for sample in index.tolist():
            image = self.split.images[sample]  # (C, S, S) uint8, as held
            draw = self.views.draw(self.seed, epoch, sample, height=image.shape[-2], width=image.shape[-1]) \
                if self.train and self.views.augment != "none" else None
            images.append(self.views.view(image, draw, validation=not self.train))
            shifts.append(self.views.shift(draw) if draw is not None else torch.zeros(3))
        lit = self.train and self.views.lighting
        batch = torch.stack(images).to(self.device, non_blocking=True)
        labels = self.split.labels[index].to(self.device, non_blocking=True)
        return self.normalise(batch, torch.stack(shifts) if lit else None), labels

    def materialize(self, index: Tensor, offsets: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]:
        raise TypeError("views make batches on the host, image by image: there is nothing to materialize")
