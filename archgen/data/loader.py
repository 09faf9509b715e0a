"""The one loader: an order (`archgen.data.order`) cut into batches that a batch maker makes, the maker chosen once,
here, when the loaders are made.

Batch makers: `DeviceBatches` (images held in memory, made on the training device, capturable), `ViewBatches` (the
ImageNet recipes' views of held images, made on the host) and `StreamBatches` (images decoded from disk by a pool
of processes). An epoch's batches are a function of (seed, epoch, rank): nothing to save but the epoch and step,
so a run resumes mid-epoch on exactly the batches it would have seen. Knows nothing of training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from archgen.data import order
from archgen.data.catalog import Catalog
from archgen.data.decode_pool import TRAIN, VAL
from archgen.data.device_batches import DeviceBatches, PlannedBatch
from archgen.data.images import ImageData, Split, channel_stats
from archgen.data.stream import StreamedData
from archgen.data.stream_batches import StreamBatches, open_pool, sample_stats
from archgen.data.view_batches import ViewBatches
from archgen.data.views import TEN, Normalise, Views
from archgen.devices import canonical
from archgen.errors import DataError, printable
from archgen.spec.schema import AugmentKind, Train

RESIDENT_BYTES = 4 * 2**30  # data sets up to this size live on the GPU for the whole run
CPU = torch.device("cpu")

Batch = PlannedBatch | tuple[Tensor, Tensor]
"""One batch: it unpacks as (images, labels) on the training device."""


class BatchMaker(Protocol):
    """Makes the batches of an epoch's order, cut into batches."""

    @property
    def resident(self) -> bool: ...

    @property
    def capturable(self) -> bool: ...

    def batches(self, epoch: int, order: Tensor, cuts: Sequence[slice]) -> Iterator[Batch]: ...

    def materialize(self, index: Tensor, offsets: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]: ...


class Loader:
    """Batches (images (B, C, H, W) float32 normalised, labels (B,) int64) on `device` of one split for one process;
    ten-crop validation batches are (B, 10, C, H, W), of batch_size / 10 images."""

    def __init__(self, order: order.Order, maker: BatchMaker, *, batch_size: int, device: torch.device) -> None:
        self.order, self.maker, self.batch_size, self.device = order, maker, batch_size, device
        self.samples = len(order(0))
        """Images this process sees per epoch (training shards padded to equal size, as DistributedSampler)."""

    def __len__(self) -> int:
        """Steps per epoch."""
        return -(-self.samples // self.batch_size)

    @property
    def resident(self) -> bool:
        """Whether the images live on the training device."""
        return self.maker.resident

    @property
    def capturable(self) -> bool:
        """Whether batches are made on a GPU from index, offset and flip tensors alone: each batch then carries
        `.index`, `.offsets`, `.flips`, and `materialize` makes it (inside a CUDA graph if need be)."""
        return self.maker.capturable

    def batches(self, epoch: int, *, start: int = 0) -> Iterator[Batch]:
        """The epoch's batches from step `start` on; the same (seed, epoch, rank) always gives the same batches."""
        indices = self.order(epoch)
        size = self.batch_size
        cuts = [slice(first, first + size) for first in range(start * size, len(indices), size)]
        yield from self.maker.batches(epoch, indices, cuts)

    def materialize(self, index: Tensor, offsets: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]:
        """(images, labels) on the device of the samples `index`, cropped at `offsets` (B, 2) and mirrored where
        `flips` (B,) when augmented: batches made on the device (in-memory data, the paper's augmentation or none)."""
        return self.maker.materialize(index, offsets, flips)


@dataclass(frozen=True)
class Loaders:
    """The training and validation loaders of one process, and the normalisation they apply."""

    train: Loader
    val: Loader
    mean: tuple[float, ...]
    """Per channel, on the 0..1 scale: of the training split held in memory, or of a fixed sample of streamed
    training images."""
    std: tuple[float, ...]


def make_loaders(
    data: ImageData | StreamedData,
    *,
    batch_size: int,
    augment: bool | AugmentKind | Train,
    seed: int,
    device: torch.device | str,
    rank: int = 0,
    world: int = 1,
    workers: int | None = None,
    normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> Loaders:
    """Loaders normalised by the training split's per-channel statistics, or by the (mean, std) `normalisation` a
    run recorded (evaluation: nothing measured); `batch_size` is per process.

    augment: the recipe (its augmentation, lighting, validation crops and workers), or True / "cifar" for the paper's
    CIFAR augmentation and False / "none" for none, with the recipe's defaults otherwise. Streamed data are read by
    `workers` processes (default: the recipe's, else this process's share of the CPUs). A recipe that cannot apply to
    the data is refused in one DataError line.
    """
    device = canonical(device)  # `cuda` and `cuda:0` alike: compared with the data's device
    recipe = _recipe(augment)
    views = Views.of(recipe, size=data.size, mirror=data.mirror, channels=data.channels, source=data.source)
    if isinstance(data, StreamedData):
        made = _streamed(data, views, seed=seed, device=device, workers=recipe.workers if workers is None else workers,
                         normalisation=normalisation)
    else:
        made = _held(data, views, seed=seed, rank=rank, device=device, normalisation=normalisation)
    val_size = max(1, batch_size // TEN) if views.ten_crop else batch_size  # ten crops of each image
    return Loaders(
        Loader(_order(data, train=True, seed=seed, rank=rank, world=world), made.train, batch_size=batch_size,
               device=device),
        Loader(_order(data, train=False, seed=seed, rank=rank, world=world), made.val, batch_size=val_size,
               device=device),
        made.mean, made.std)


@dataclass(frozen=True)
class _Makers:
    train: BatchMaker
    val: BatchMaker
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _held(data: ImageData, views: Views, *, seed: int, rank: int, device: torch.device,
          normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None) -> _Makers:
    """Batches of images held in memory: made on the device when they are whole images or the paper's crops (with
    no colour noise), else by the recipe's views; normalised by the training split's statistics (or the given)."""
    _check_held_sizes(data, views)
    mean, std = normalisation or channel_stats(data.train.images)
    normalise = Normalise.of(mean, std, device)
    train, val = (_held_maker(split, views, train=training, mirror=data.mirror, normalise=normalise, seed=seed,
                              rank=rank, device=device) for split, training in ((data.train, True), (data.val, False)))
    return _Makers(train, val, mean, std)


def _held_maker(split: Split, views: Views, *, train: bool, mirror: bool, normalise: Normalise, seed: int, rank: int,
                device: torch.device) -> BatchMaker:
    if not (views.plain_training if train else views.plain_validation):
        return ViewBatches(split, views, train=train, normalise=normalise, seed=seed, device=device)
    return DeviceBatches(split, home=_home(split, device), device=device, augment=train and views.augment == "cifar",
                         mirror=train and mirror, normalise=normalise, seed=seed, rank=rank)


def _streamed(data: StreamedData, views: Views, *, seed: int, device: torch.device, workers: int | None,
              normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None) -> _Makers:
    """Batches decoded from disk by one pool of processes, normalised by a fixed sample's statistics (or the
    given); training images augmented by the recipe's views (unless it says none)."""
    pool = open_pool(data, views=views, seed=seed, device=device, workers=workers)
    mean, std = normalisation or sample_stats(pool, len(data.train))
    normalise = Normalise.of(mean, std, device)
    return _Makers(StreamBatches(data, pool, split=TRAIN, views=views, augment=views.augment != "none",
                                 normalise=normalise, device=device),
                   StreamBatches(data, pool, split=VAL, views=views, augment=False, normalise=normalise,
                                 device=device), mean, std)


def _order(data: ImageData | StreamedData, *, train: bool, seed: int, rank: int, world: int) -> order.Order:
    split = data.train if train else data.val
    per_shard = split.per_file if isinstance(split, Catalog) else None  # tar shards are read shard by shard
    return order.of_split(len(split), train=train, seed=seed, rank=rank, world=world, per_shard=per_shard)


def _home(split: Split, device: torch.device) -> torch.device:
    """Where a split's images are held: on the training GPU when they fit RESIDENT_BYTES, else in host memory."""
    return device if device.type != "cpu" and split.images.numel() <= RESIDENT_BYTES else CPU


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
    fix = _fix_sizes(data, views, original)
    if views.augment == "scale" and original < views.scale[0]:
        raise DataError(f"{shown} are smaller than the {views.scale[0]}-{views.scale[1]} pixels scale augmentation "
                        "resizes their shorter side to; use augment = 'cifar' or 'random-resized-crop', a scale range "
                        f"for these images, or stream: data at their own sizes{fix}")
    if views.eval_resize is not None and views.eval_resize > original:  # (without it: the held image, whole)
        raise DataError(f"{shown} are smaller than the {views.eval_resize} pixels eval_resize resizes their shorter "
                        f"side to before the {data.size}x{data.size} validation crop{'s' if views.ten_crop else ''}; "
                        f"leave eval_resize out, or give one of at most the images' size{fix}")


def _fix_sizes(data: ImageData, views: Views, original: int) -> str:
    """The `--set` options that train these images at the size they train at, fixing every refusal above at once
    (the spec's input.size too, so that the spec's own rules accept the smaller eval_resize)."""
    sets = []
    if views.augment == "scale" and original < views.scale[0]:
        sets.append("train.augment=random-resized-crop")
    if views.eval_resize is not None and views.eval_resize > original and data.size <= original:
        sets.append(f"train.eval_resize={data.size}")
    if not sets:
        return ""
    return "; to train on them at " + f"{data.size}x{data.size}: " + " ".join(
        f"--set {setting}" for setting in [f"input.size={data.size}", *sets])
