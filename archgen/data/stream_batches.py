"""Batches streamed from disk: what training reads from a `StreamedData`, made by a pool of decoding processes.

Each sample's random choices (crop, flip, lighting) come from (seed, epoch, index), so a run resumed at step k asks
for exactly the batches it would have seen. Normalisation uses channel statistics of a fixed sample of training
images. On a CUDA GPU with nvjpeg, JPEGs go to the GPU encoded and are decoded there. Knows nothing of orders'
making or training.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from archgen.data.catalog import sample
from archgen.data.decode import decode
from archgen.data.decode_pool import TRAIN, VAL, Encoded, Piece, Request, SampleReader, WorkerPool, default_workers
from archgen.data.images import level_counts, stats_from_counts
from archgen.data.stream import SAMPLE, SAMPLE_SEED, StreamedData
from archgen.data.views import Normalise, Views

STATS_BATCH = 64  # sampled images per request while estimating the statistics


class StreamBatches:
    """(images (B, C, S, S) float32 normalised, labels (B,) int64) of one split, on the device; ten-crop validation
    batches are (B, 10, C, S, S)."""

    resident = False  # batches come from host memory
    capturable = False

    def __init__(self, data: StreamedData, pool: WorkerPool, *, split: int, views: Views, augment: bool,
                 normalise: Normalise, device: torch.device) -> None:
        self.data, self.pool, self.split, self.views = data, pool, split, views
        self.augment, self.normalise, self.device = augment, normalise, device
        self.encoded = nvjpeg(device)

    def batches(self, epoch: int, order: Tensor, cuts: Sequence[slice]) -> Iterator[tuple[Tensor, Tensor]]:
        indices = order.numpy()
        requests = [Request(self.split, epoch, indices[cut], self.augment, self.encoded) for cut in cuts]
        for piece in self.pool.run(requests):
            yield self._on_device(piece)

    def materialize(self, index: Tensor, offsets: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]:
        raise TypeError("streamed batches are made by the decoding processes: there is nothing to materialize")

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


def open_pool(data: StreamedData, *, views: Views, seed: int, device: torch.device, workers: int | None) -> WorkerPool:
    """The pool of decoding processes a streamed source's two batch makers share (`workers`; default: this process's
    share of the CPUs)."""
    reader = SampleReader(data.train, data.val, channels=data.channels, views=views, seed=seed)
    return WorkerPool(reader, workers=default_workers() if workers is None else workers, pin=device.type == "cuda",
                      source=data.source)


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
