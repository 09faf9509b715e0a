"""The decoding pool: `torch.utils.data.DataLoader` processes that read, decode, fit and augment whole batches.

A request names a split, an epoch and the samples of one batch; what comes back depends on nothing else (each
image's random choices are drawn from (seed, epoch, index), see `archgen.data.views`), so batches arrive in order and
equal whichever worker made them.
A worker never raises: a broken file comes back as its one-line message, which the main process raises as a
DataError; a worker that dies or stalls is one line too. One pool serves a split's training and validation
loaders. Knows nothing of orders or training.
"""

from __future__ import annotations

import gc
import os
import signal
import traceback
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from archgen.data.catalog import Catalog
from archgen.data.decode import JPEG, check_pixels, decode, jpeg_size, read
from archgen.data.views import TEN, Draw, Views
from archgen.errors import ArchgenError, DataError, first_line, printable

TRAIN, VAL = 0, 1
MAX_WORKERS = 8
PREFETCH = 2  # batches each worker prepares ahead
TIMEOUT_SECONDS = 300  # no batch from a worker for this long: a stalled disk, not a slow one
_WORKER_DIED = ("DataLoader worker", "DataLoader timed out")


class Request(NamedTuple):
    """One batch to make: `indices` of split TRAIN or VAL in `epoch`; augmented or not; JPEGs left encoded for a
    GPU to decode (`encoded`) or decoded here."""

    split: int
    epoch: int
    indices: np.ndarray
    augment: bool
    encoded: bool = False


class Encoded(NamedTuple):
    """A JPEG left for the GPU: its bytes, where its image goes in the batch, its random choices (None: not
    augmented)."""

    slot: int
    data: Tensor
    draw: Draw | None
    shown: str


class Piece(NamedTuple):
    """A made batch: images (B, C, S, S) uint8 (ten-crop validation: (B, 10, C, S, S)), labels (B,) int64 and the
    lighting noise's RGB shifts (B, 3) float32 or None (JPEGs in `encoded` still to decode there), or the one-line
    `failure` of the sample that could not be made and the worker's traceback (`detail`)."""

    images: Tensor
    labels: Tensor
    encoded: tuple[Encoded, ...] = ()
    failure: str | None = None
    detail: str | None = None
    shifts: Tensor | None = None


class SampleReader(Dataset[Piece]):
    """What a worker runs: `__getitems__(request)` makes one whole batch."""

    def __init__(self, train: Catalog, val: Catalog, *, channels: int, views: Views, seed: int) -> None:
        self.splits = (train, val)
        self.channels, self.views, self.seed = channels, views, seed

    def __getitems__(self, request: Request) -> Piece:
        catalog, views, size = self.splits[request.split], self.views, self.views.size
        crops = (TEN,) if request.split == VAL and views.ten_crop else ()  # validation is never augmented
        images = torch.zeros((len(request.indices), *crops, self.channels, size, size), dtype=torch.uint8)
        labels = torch.from_numpy(catalog.labels[request.indices])
        shifts = torch.zeros((len(request.indices), 3)) if request.augment and views.lighting else None
        encoded, shown = [], ""
        try:
            for slot, index in enumerate(request.indices.tolist()):
                location = catalog.locate(index)
                shown = location.shown
                data = read(location)
                if request.encoded and data[:3] == JPEG and (dimensions := jpeg_size(data)):
                    check_pixels(*dimensions, shown)
                    draw = self._draw(request, index, height=dimensions[1], width=dimensions[0])
                    encoded.append(Encoded(slot, torch.frombuffer(data, dtype=torch.uint8), draw, shown))
                else:
                    image = decode(data, shown, self.channels)
                    draw = self._draw(request, index, height=image.shape[-2], width=image.shape[-1])
                    images[slot] = views.view(image, draw, validation=request.split == VAL)
                if shifts is not None and draw is not None:
                    shifts[slot] = views.shift(draw)
        except ArchgenError as error:
            return Piece(images[:0], labels[:0], failure=str(error))
        except Exception as error:  # a bug or an exhausted worker: still one line, the traceback kept for --debug
            return Piece(images[:0], labels[:0], failure=f"{shown}: {type(error).__name__}: "
                         f"{printable(first_line(error))}", detail=traceback.format_exc())
        return Piece(images, labels, tuple(encoded), shifts=shifts)

    def _draw(self, request: Request, index: int, *, height: int, width: int) -> Draw | None:
        if not request.augment:
            return None
        return self.views.draw(self.seed, request.epoch, index, height=height, width=width)

    def __getitem__(self, index: int) -> Piece:
        raise TypeError("read whole batches through __getitems__(Request)")

    def __len__(self) -> int:
        return sum(len(catalog) for catalog in self.splits)


class WorkerFailure(Exception):
    """A worker's traceback, chained under the DataError it became (shown with --debug)."""


class WorkerPool:
    """Persistent DataLoader workers making the batches one loader asks for, in order; one reader at a time."""

    def __init__(self, reader: SampleReader, *, workers: int, pin: bool, source: str) -> None:
        self.feed, self.source, self.reading = _Feed(), source, 0
        self.loader = DataLoader(  # a request stands where a batch sampler's list of indices would
            reader, batch_sampler=self.feed, num_workers=workers, collate_fn=_whole, pin_memory=pin,  # type: ignore[arg-type]
            persistent_workers=workers > 0, prefetch_factor=PREFETCH if workers else None,
            timeout=TIMEOUT_SECONDS if workers else 0, worker_init_fn=_start_worker,
        )

    def run(self, requests: list[Request]) -> Iterator[Piece]:
        """The batches of `requests`, in order. Starting another run ends this one (its next step raises)."""
        self.reading += 1
        mine, self.feed.requests = self.reading, requests
        try:
            for piece in self.loader:
                if self.reading != mine:
                    raise RuntimeError("two loaders read one worker pool at once")
                if piece.failure is not None:
                    raise DataError(piece.failure) from (WorkerFailure(piece.detail) if piece.detail else None)
                yield piece
        except RuntimeError as error:
            if not str(error).startswith(_WORKER_DIED):
                raise
            raise DataError(f"{printable(self.source)}: a data worker failed: {printable(first_line(error))} "
                            "(out of memory, or a stalled disk?)") from None


class _Feed:
    """The pool's batch sampler: the requests of its current run."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __iter__(self) -> Iterator[Request]:
        return iter(self.requests)

    def __len__(self) -> int:
        return len(self.requests)


def _whole(piece: Piece) -> Piece:
    return piece  # made whole by __getitems__: nothing to collate


def _start_worker(worker: int) -> None:
    """Ctrl-C in a terminal reaches every process of the group: the main one finishes its step and checkpoints,
    which needs the workers alive (they end with it). The objects inherited from the main process are frozen out
    of the garbage collector: its passes would write to every one of them, copying the parent's whole heap into
    each worker page by page (as Instagram found of forked Python servers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()


def default_workers() -> int:
    """This process's share of the CPUs it may run on (torchrun's LOCAL_WORLD_SIZE processes share them)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cpus // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
