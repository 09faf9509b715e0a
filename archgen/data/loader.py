"""Batches from in-memory images: the order and augmentation of each epoch are a function of (seed, epoch, rank).

Nothing to save but the epoch and step, so a run resumes mid-epoch on exactly the batches it would
have seen. Each epoch's order, crop offsets and flips go to the device once, before the epoch; a batch is
those three slices, made into images (gathered, padded, cropped, flipped, normalised) on the device only when
asked, by `materialize`, which a CUDA graph can capture. The host never waits for the device here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DistributedSampler

from archgen.data.images import ImageData, Split, channel_stats
from archgen.devices import canonical
from archgen.errors import DataError, printable
from archgen.spec.schema import AugmentKind, Train

if TYPE_CHECKING:
    from archgen.data.stream import StreamedData
    from archgen.data.stream_loader import StreamLoader
    from archgen.data.view_loader import ViewLoader
    from archgen.data.views import Views

RESIDENT_BYTES = 4 * 2**30  # data sets up to this size live on the GPU for the whole run
PAPER_PAD, PAPER_SIZE = 4, 32  # He et al. 2016, Sec. 4.2: 4 pixels padded on each side of 32x32 images


class BatchLoader:
    """Batches (images (B, C, H, W) float32 normalised, labels (B,) int64) of one split for one process."""

    def __init__(
        self,
        split: Split,
        *,
        batch_size: int,
        shuffle: bool,
        augment: bool,
        mirror: bool,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        seed: int,
        device: torch.device | str,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        device = canonical(device)  # `cuda` and `cuda:0` alike: compared with the data's device below
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.augment, self.mirror = augment, mirror
        self.rank, self.world, self.device = rank, world, device
        resident = device.type != "cpu" and split.images.numel() <= RESIDENT_BYTES
        self.images = split.images.to(device) if resident else split.images
        self.labels = split.labels.to(device) if resident else split.labels
        channel = (1, -1, 1, 1)
        self.scale = (1 / (255 * torch.tensor(std))).view(channel).to(device)  # x/255 - mean, over std
        self.shift = (-torch.tensor(mean) / torch.tensor(std)).view(channel).to(device)
        self.pad = max(1, round(PAPER_PAD * split.images.shape[-1] / PAPER_SIZE))
        indices: Any = range(len(split))  # the sampler needs only len()
        self.sampler: DistributedSampler[int] = DistributedSampler(
            indices, num_replicas=world, rank=rank, shuffle=True, seed=seed
        )

    @property
    def samples(self) -> int:
        """Images this process sees per epoch (training shards are padded to equal size, as DistributedSampler)."""
        if self.shuffle:
            return len(self.sampler)
        return len(range(self.rank, len(self.labels), self.world))

    def __len__(self) -> int:
        """Steps per epoch."""
        return -(-self.samples // self.batch_size)

    @property
    def resident(self) -> bool:
        """Whether the images live on the training device (batches are then made there, capturable)."""
        return self.images.device == self.device

    def batches(self, epoch: int, *, start: int = 0) -> Iterator[PlannedBatch]:
        """The epoch's batches from step `start` on; the same (seed, epoch, rank) always gives the same batches."""
        order = self._order(epoch)
        offsets, flips = self._augmentation(epoch, len(order))
        for first in range(start * self.batch_size, len(order), self.batch_size):
            last = first + self.batch_size
            yield PlannedBatch(order[first:last], offsets[first:last], flips[first:last], self)

    def materialize(self, index: Tensor, offsets: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]:
        """(images (B, C, H, W) float32 normalised, labels (B,)) on the device for the samples `index`."""
        images, labels = self._fetch(index)
        if self.augment:
            images = self._crop_flip(images, offsets, flips)
        return images.float() * self.scale + self.shift, labels

    def _order(self, epoch: int) -> Tensor:
        if not self.shuffle:
            order = torch.arange(self.rank, len(self.labels), self.world)
        else:
            self.sampler.set_epoch(epoch)
            order = torch.tensor(list(self.sampler), dtype=torch.int64)
        return _upload(order, self.images.device)  # once per epoch: indexing then happens where the images are

    def _augmentation(self, epoch: int, count: int) -> tuple[Tensor, Tensor]:
        """Crop offsets (count, 2) in [0, 2 pad] and flips (count,), drawn up front for the whole epoch."""
        seed = int(np.random.SeedSequence([self.seed, epoch, self.rank]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        offsets = torch.randint(0, 2 * self.pad + 1, (count, 2), generator=generator)
        flips = torch.randint(0, 2, (count,), generator=generator).bool() & self.mirror
        return _upload(offsets, self.device), _upload(flips, self.device)

    def _fetch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        if self.resident:
            return self.images[index], self.labels[index]
        images, labels = self.images[index], self.labels[index]  # gathered in host memory
        if self.device.type == "cuda":
            images, labels = images.pin_memory(), labels.pin_memory()
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)

    def _crop_flip(self, images: Tensor, offsets: Tensor, flips: Tensor) -> Tensor:
        """The paper's augmentation on a uint8 batch: zero-pad, crop back to size at each offset, mirror some."""
        count, _, height, width = images.shape
        padded = F.pad(images, (self.pad,) * 4)  # (B, C, H + 2p, W + 2p)
        rows = offsets[:, :1] + torch.arange(height, device=images.device)  # (B, H)
        cols = offsets[:, 1:] + torch.arange(width, device=images.device)  # (B, W)
        batch = torch.arange(count, device=images.device)[:, None, None]
        cropped = padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)
        return torch.where(flips[:, None, None, None], cropped.flip(3), cropped)


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
    loader: BatchLoader

    def __iter__(self) -> Iterator[Tensor]:
        """Unpacks as (images, labels), made on the device now."""
        return iter(self.loader.materialize(self.index, self.offsets, self.flips))


@dataclass(frozen=True)
class Loaders:
    """The training and validation loaders of one process."""

    train: BatchLoader | StreamLoader | ViewLoader
    val: BatchLoader | StreamLoader | ViewLoader


def make_loaders(
    data: ImageData | StreamedData,
    *,
    batch_size: int,
    augment: bool | AugmentKind | Train,
    seed: int,
    device: torch.device,
    rank: int = 0,
    world: int = 1,
    workers: int | None = None,
) -> Loaders:
    """Loaders normalised by the training split's per-channel statistics; `batch_size` is per process.

    augment: the recipe (its augmentation, lighting, validation crops and workers), or True / "cifar" for the paper's
    CIFAR augmentation and False / "none" for none, with the recipe's defaults otherwise. Streamed data are read by
    `workers` processes (default: the recipe's, else this process's share of the CPUs). A recipe that cannot apply to
    the data is refused in one DataError line.
    """
    from archgen.data.stream import StreamedData
    from archgen.data.view_loader import ViewLoader
    from archgen.data.views import Views

    recipe = _recipe(augment)
    views = Views.of(recipe, size=data.size, mirror=data.mirror, channels=data.channels, source=data.source)
    augmented = views.augment != "none"
    if isinstance(data, StreamedData):
        from archgen.data.stream_loader import stream_loaders

        train, val = stream_loaders(data, views=views, augment=augmented, batch_size=batch_size, seed=seed,
                                    device=device, rank=rank, world=world,
                                    workers=recipe.workers if workers is None else workers)
        return Loaders(train=train, val=val)
    _check_held_sizes(data, views)
    mean, std = channel_stats(data.train.images)
    common = dict(batch_size=batch_size, mean=mean, std=std, seed=seed, device=device, rank=rank, world=world)
    return Loaders(
        train=BatchLoader(data.train, shuffle=True, augment=views.augment == "cifar", mirror=data.mirror, **common)  # type: ignore[arg-type]
        if views.plain_training else ViewLoader(data.train, views, train=True, **common),  # type: ignore[arg-type]
        val=BatchLoader(data.val, shuffle=False, augment=False, mirror=False, **common)  # type: ignore[arg-type]
        if views.plain_validation else ViewLoader(data.val, views, train=False, **common),  # type: ignore[arg-type]
    )


def _recipe(augment: bool | AugmentKind | Train) -> Train:
    """The recipe the loaders follow: a bare kind may only be one that needs no sizes (cifar or none)."""
    if isinstance(augment, Train):
        return augment
    if augment is True or augment == "cifar":
        return Train(augment="cifar")
    if augment is False or augment == "none":
        return Train(augment="none")
    raise ValueError(f"make_loaders(augment={augment!r}) needs the recipe's sizes: pass augment=<the Train recipe>")


def _check_held_sizes(data: ImageData, views: Views) -> None:
    """In memory each image is held at the network's size: the ImageNet recipes' resizes start from that copy, and
    are refused where the images are smaller than what the recipe resizes them to (digits, CIFAR: nothing to crop
    from), rather than enlarging them tens of times."""
    original = data.native_size or data.size
    shown = f"{printable(data.source)}'s {original}x{original} images"
    if views.augment == "scale" and original < views.scale[0]:
        raise DataError(f"{shown} are smaller than the {views.scale[0]}-{views.scale[1]} pixels scale augmentation "
                        "resizes their shorter side to; use augment = 'cifar' or 'random-resized-crop', a scale range "
                        "for these images, or stream: data at their own sizes")
    if views.eval_resize is not None and views.eval_resize > original:  # (without it: the held image, whole)
        raise DataError(f"{shown} are smaller than the {views.eval_resize} pixels eval_resize resizes their shorter "
                        f"side to before the {data.size}x{data.size} validation crop{'s' if views.ten_crop else ''}; "
                        "leave eval_resize out, or give one of at most the images' size")
