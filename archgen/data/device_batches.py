"""Batches made on the training device from the images held in memory: whole images, or the paper's crops and flips.

Each epoch's order, crop offsets and flips go to the device once, before the epoch; a batch is those three slices,
made into images (gathered, cropped, flipped, normalised) on the device only when asked, by `materialize`, which a
CUDA graph can capture. The host never waits for the device here. Knows nothing of orders' making or training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from archgen.data.crops import crop_flip, epoch_draws, paper_pad
from archgen.data.images import Split
from archgen.data.views import Normalise


class DeviceBatches:
    """Planned batches of one split held on `home` (the training device, or host memory when it is too large for
    the device), made into (images (B, C, H, W) float32 normalised, labels (B,) int64) on the training device."""

    def __init__(self, split: Split, *, home: torch.device, device: torch.device, augment: bool, mirror: bool,
                 normalise: Normalise, seed: int, rank: int) -> None:
        self.images, self.labels = split.images.to(home), split.labels.to(home)
        self.device, self.augment, self.mirror, self.normalise = device, augment, mirror, normalise
        self.seed, self.rank = seed, rank
        self.pad = paper_pad(split.images.shape[-1])

    @property
    def resident(self) -> bool:
        """Whether the images live on the training device (batches are then made there, capturable)."""
        return self.images.device == self.device

    @property
    def capturable(self) -> bool:
        """Whether batches are made on a GPU from their description alone (what a CUDA graph can replay)."""
        return self.resident and self.device.type != "cpu"

    def batches(self, epoch: int, order: Tensor, cuts: Sequence[slice]) -> Iterator[PlannedBatch]:
        where = _upload(order, self.images.device)  # once per epoch: indexing then happens where the images are
        offsets, flips = epoch_draws(self.seed, epoch, self.rank, len(order), self.pad, mirror=self.mirror)
        offsets, flips = _upload(offsets, self.device), _upload(flips, self.device)
        for cut in cuts:
            yield PlannedBatch(where[cut], offsets[cut], flips[cut], self)

    def materialize(self, index: Tensor, offsets: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]:
        """(images (B, C, H, W) float32 normalised, labels (B,)) on the device for the samples `index`."""
        images, labels = self._fetch(index)
        if self.augment:
            images = crop_flip(images, self.pad, offsets, flips)
        return self.normalise(images), labels

    def _fetch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        if self.resident:
            return self.images[index], self.labels[index]
        images, labels = self.images[index], self.labels[index]  # gathered in host memory
        if self.device.type == "cuda":
            images, labels = images.pin_memory(), labels.pin_memory()
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


def _upload(tensor: Tensor, device: torch.device) -> Tensor:
    """`tensor` on `device`; to a GPU from pinned memory, asynchronously, so the host does not wait for the GPU."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


@dataclass(frozen=True)
class PlannedBatch:
    """One batch as what makes it: sample indices (where the images are), crop offsets and flips (on the device)."""

    index: Tensor
    offsets: Tensor
    flips: Tensor
    maker: DeviceBatches

    def __iter__(self) -> Iterator[Tensor]:
        """Unpacks as (images, labels), made on the device now."""
        return iter(self.maker.materialize(self.index, self.offsets, self.flips))
