"""Batches of in-memory images made one image at a time by the recipe's views: the ImageNet augmentations, colour
noise, and validation images resized before their centre crop or ten crops.

The in-memory loader's order (DistributedSampler's, as `archgen.data.order` computes it), each image's random choices
drawn from (seed, epoch, index) as the streamed loader draws them, so a resumed epoch asks for the same batches. The
views resize each image to its own size, so batches are made on the host (not captured as a CUDA graph), from the
images as they are held (at the network's size). Knows nothing of training.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from archgen.data import order
from archgen.data.images import Split
from archgen.data.views import TEN, Normalise, Views
from archgen.devices import canonical


class ViewLoader:
    """Batches (images (B, C, S, S) float32 normalised, labels (B,) int64) of one in-memory split for one process;
    ten-crop validation batches are (B, 10, C, S, S), of batch_size / 10 images."""

    def __init__(self, split: Split, views: Views, *, train: bool, batch_size: int, mean: tuple[float, ...],
                 std: tuple[float, ...], seed: int, device: torch.device | str, rank: int = 0, world: int = 1) -> None:
        self.split, self.views, self.train, self.seed = split, views, train, seed
        crops = TEN if views.ten_crop and not train else 1
        self.batch_size, self.rank, self.world = max(1, batch_size // crops), rank, world
        self.device = canonical(device)
        self.normalise = Normalise.of(mean, std, self.device)
        self.resident = False  # made on the host, image by image: no CUDA graph
        self.samples = len(self._order(0))
        """Images this process sees per epoch (training shards padded to equal size, as DistributedSampler)."""

    def __len__(self) -> int:
        """Steps per epoch."""
        return -(-self.samples // self.batch_size)

    def batches(self, epoch: int, *, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """The epoch's batches from step `start` on; the same (seed, epoch, rank) always gives the same batches."""
        indices = self._order(epoch)
        for first in range(start * self.batch_size, len(indices), self.batch_size):
            yield self.make(indices[first : first + self.batch_size], epoch)

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

    def _order(self, epoch: int) -> Tensor:
        count = len(self.split)
        if not self.train:
            return order.strided(count, rank=self.rank, world=self.world)
        return order.shuffled(count, seed=self.seed, epoch=epoch, rank=self.rank, world=self.world)
