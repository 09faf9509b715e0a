"""Batches streamed from disk: what training reads from a `StreamedData`, through a pool of data workers.

An epoch's batches are a function of (seed, epoch, rank): the order is `archgen.data.order`'s, each sample's random
choices (crop, flip, lighting) come from (seed, epoch, index), so a run resumed at step k asks for exactly the batches
it would have seen. Normalisation uses channel statistics of a fixed sample of training images. On a CUDA GPU with
nvjpeg, JPEGs go to the GPU encoded and are decoded there. Knows nothing of training.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from archgen.data import order
from archgen.data.catalog import sample
from archgen.data.decode import crop_flip, decode, load
from archgen.data.images import level_counts, stats_from_counts
from archgen.data.stream import SAMPLE, SAMPLE_SEED, StreamedData
from archgen.data.views import TEN, Normalise, Views
from archgen.data.workers import TRAIN, VAL, Encoded, Piece, Request, SampleReader, WorkerPool, default_workers
from archgen.devices import canonical

STATS_BATCH = 64  # sampled images per request while estimating the statistics


class StreamLoader:
    """Batches (images (B, C, S, S) float32 normalised, labels (B,) int64) on the device, of one split; ten-crop
    validation batches are (B, 10, C, S, S), of batch_size / 10 images."""

    def __init__(self, data: StreamedData, pool: WorkerPool, *, split: int, views: Views, batch_size: int,
                 augment: bool, mean: tuple[float, ...], std: tuple[float, ...], seed: int,
                 device: torch.device | str, rank: int = 0, world: int = 1) -> None:
        self.data, self.pool, self.split, self.views = data, pool, split, views
        self.catalog = data.train if split == TRAIN else data.val
        self.crops = TEN if split == VAL and views.ten_crop else 1
        self.batch_size, self.augment, self.seed = max(1, batch_size // self.crops), augment, seed
        self.rank, self.world, self.device = rank, world, canonical(device)
        self.normalise = Normalise.of(mean, std, self.device)
        self.scale, self.shift = self.normalise.scale, self.normalise.shift
        self.pad = views.pad
        self.encoded = nvjpeg(self.device)
        self.resident = False  # batches come from host memory: no CUDA graph
        self.samples = len(self._order(0))
        """Images this process sees per epoch (training shards padded to equal size, as DistributedSampler)."""

    def __len__(self) -> int:
        """Steps per epoch."""
        return -(-self.samples // self.batch_size)

    def batches(self, epoch: int, *, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """The epoch's batches from step `start` on; the same (seed, epoch, rank) always gives the same batches."""
        indices = self._order(epoch).numpy()
        requests = [Request(self.split, epoch, indices[first : first + self.batch_size], self.augment, self.encoded)
                    for first in range(start * self.batch_size, len(indices), self.batch_size)]
        for piece in self.pool.run(requests):
            yield self._on_device(piece)

    def materialize(self, index: Tensor, offsets: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]:
        """The batch of samples `index` cropped at `offsets` (B, 2), mirrored where `flips`, decoded in this process
        (what a worker does under CIFAR augmentation; the in-memory loader's signature)."""
        images = []
        for sample_index, (top, left), flip in zip(index.tolist(), offsets.tolist(), flips.tolist(), strict=True):
            image = load(self.catalog.locate(sample_index), channels=self.data.channels, size=self.data.size)
            images.append(crop_flip(image, self.pad, top, left, flip) if self.augment else image)
        labels = torch.from_numpy(self.catalog.labels[index.cpu().numpy()])
        return self._on_device(Piece(torch.stack(images), labels))

    def _order(self, epoch: int) -> Tensor:
        count, rank, world = len(self.catalog), self.rank, self.world
        sharded = self.catalog.per_file is not None
        if self.split == VAL:
            return order.contiguous(count, rank=rank, world=world) if sharded else \
                order.strided(count, rank=rank, world=world)
        if sharded:
            assert self.catalog.per_file is not None
            return order.shard_stream(self.catalog.per_file, seed=self.seed, epoch=epoch, rank=rank, world=world)
        return order.shuffled(count, seed=self.seed, epoch=epoch, rank=rank, world=world)

    def _on_device(self, piece: Piece) -> tuple[Tensor, Tensor]:
        images = piece.images.to(self.device, non_blocking=True)
        if piece.encoded:
            images = self._decode_here(images, piece.encoded)
        labels = piece.labels.to(self.device, non_blocking=True)
        return self.normalise(images, piece.shifts), labels

    def _decode_here(self, images: Tensor, encoded: tuple[Encoded, ...]) -> Tensor:
        """JPEGs decoded on the GPU in one nvjpeg call (unverified: no GPU was lent while this was written); one
        it refuses is decoded on the CPU instead, with the same message for a broken file."""
        from torchvision.io import ImageReadMode, decode_jpeg

        mode = ImageReadMode.GRAY if self.data.channels == 1 else ImageReadMode.RGB
        try:
            decoded = decode_jpeg([item.data for item in encoded], mode=mode, device=self.device)
        except RuntimeError:
            decoded = [decode(bytearray(item.data.numpy()), item.shown, self.data.channels) for item in encoded]
        for item, image in zip(encoded, decoded, strict=True):
            images[item.slot] = self.views.view(image.to(self.device), item.draw, validation=self.split == VAL)
        return images


def stream_loaders(data: StreamedData, *, views: Views, augment: bool, batch_size: int, seed: int,
                   device: torch.device | str, rank: int = 0, world: int = 1,
                   workers: int | None = None) -> tuple[StreamLoader, StreamLoader]:
    """Training and validation loaders sharing one pool of workers, normalised by `sample_stats`; training images
    are augmented by `views` when `augment`."""
    reader = SampleReader(data.train, data.val, channels=data.channels, views=views, seed=seed)
    pool = WorkerPool(reader, workers=default_workers() if workers is None else workers,
                      pin=canonical(device).type == "cuda", source=data.source)
    mean, std = sample_stats(pool, len(data.train))
    common = dict(views=views, batch_size=batch_size, mean=mean, std=std, seed=seed, device=device, rank=rank,
                  world=world)
    return (StreamLoader(data, pool, split=TRAIN, augment=augment, **common),  # type: ignore[arg-type]
            StreamLoader(data, pool, split=VAL, augment=False, **common))  # type: ignore[arg-type]


def sample_stats(pool: WorkerPool, count: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of SAMPLE training images (centre crops, not augmented), chosen by a
    fixed seed: a pass over the whole set would read every file once more before training, and 512 images put the
    means within about 1% of the whole set's (bench/streamed_loader.md); fixed, every resume agrees."""
    chosen = np.array(sample(count, SAMPLE, seed=SAMPLE_SEED), dtype=np.int64)
    requests = [Request(TRAIN, 0, chosen[first : first + STATS_BATCH], False)
                for first in range(0, len(chosen), STATS_BATCH)]
    counts = sum(level_counts(piece.images) for piece in pool.run(requests))
    assert isinstance(counts, Tensor)
    return stats_from_counts(counts)


def nvjpeg(device: torch.device) -> bool:
    """Whether JPEGs can be decoded on `device` (a CUDA GPU, torchvision built with nvjpeg)."""
    if device.type != "cuda":
        return False
    try:
        from torchvision.io import decode_jpeg

        tiny = io.BytesIO()
        Image.new("RGB", (8, 8)).save(tiny, "JPEG")
        decode_jpeg(torch.frombuffer(bytearray(tiny.getvalue()), dtype=torch.uint8), device=device)
    except (ImportError, RuntimeError):
        return False
    return True
