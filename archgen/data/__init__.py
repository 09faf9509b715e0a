"""Data: the sources `--data` names, read into memory or streamed from disk, and resumable batch loaders over them.

Knows image files and tensors; nothing of specs' blocks, models or training. The data decide
channels and classes; the pipeline decides the size (see `archgen.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archgen.data.images import ImageData, Split, channel_stats
from archgen.data.loader import BatchLoader
from archgen.data.source import USAGE, DataSource, Synthetic, parse_source
from archgen.data.stream import StreamedData
from archgen.data.stream_loader import StreamLoader

__all__ = [
    "USAGE",
    "BatchLoader",
    "DataSource",
    "ImageData",
    "Loaders",
    "Split",
    "StreamLoader",
    "StreamedData",
    "Synthetic",
    "load_data",
    "make_loaders",
    "parse_source",
]


def load_data(source: str | DataSource, *, size: int, seed: int = 0) -> ImageData | StreamedData:
    """Read a data source into memory, or list it for streaming (`stream:`, `wds:`, and image folders that would
    pass the in-memory cap). `size` is used by image folders whose images differ in size, and by streamed data
    (decoded at that size)."""
    parsed = parse_source(source) if isinstance(source, str) else source
    if parsed.kind in ("imagefolder", "stream", "wds"):
        return _files(parsed, size=size)
    if parsed.kind == "digits":
        from archgen.data.digits import load_digits_data

        return load_digits_data()
    if parsed.kind == "cifar10":
        from archgen.data.cifar import load_cifar10_data

        assert parsed.path is not None
        return load_cifar10_data(parsed.path)
    from archgen.data.synthetic import load_synthetic_data

    return load_synthetic_data(parsed.synthetic or Synthetic(), seed=seed)


def _files(source: DataSource, *, size: int) -> ImageData | StreamedData:
    """Image folders in memory unless their decoded images would pass the cap (a function of the files, so a resume
    decides alike); `stream:` folders and `wds:` shards always streamed."""
    from archgen.data import folder, stream
    from archgen.data.catalog import sample

    assert source.path is not None
    if source.kind == "wds":
        assert source.val is not None
        return stream.open_shards(str(source.path), str(source.val), size=size, source=str(source))
    listing = stream.list_folder(source.path, source=str(source))
    if source.kind == "stream":
        return stream.open_folder(listing, size=size, why="as stream: asks")
    images = listing.images()
    if folder.fits_in_memory(images, size=size, sample=sample(len(images), stream.SAMPLE, seed=stream.SAMPLE_SEED)):
        return folder.load_folder_data(source.path, size=size)
    why = (f"its {len(images):,} images decoded would pass the {folder.size_of(folder.MAX_BYTES)} archgen holds in "
           "memory")
    return stream.open_folder(listing, size=size, why=why)


@dataclass(frozen=True)
class Loaders:
    """The training and validation loaders of one process."""

    train: BatchLoader | StreamLoader
    val: BatchLoader | StreamLoader


def make_loaders(
    data: ImageData | StreamedData,
    *,
    batch_size: int,
    augment: bool,
    seed: int,
    device: torch.device,
    rank: int = 0,
    world: int = 1,
    workers: int | None = None,
) -> Loaders:
    """Loaders normalised by the training split's per-channel statistics; `batch_size` is per process. Streamed data
    are read by `workers` processes (default: this process's share of the CPUs)."""
    if isinstance(data, StreamedData):
        from archgen.data.stream_loader import stream_loaders

        train, val = stream_loaders(data, batch_size=batch_size, augment=augment, seed=seed, device=device,
                                    rank=rank, world=world, workers=workers)
        return Loaders(train=train, val=val)
    mean, std = channel_stats(data.train.images)
    common = dict(batch_size=batch_size, mean=mean, std=std, seed=seed, device=device, rank=rank, world=world)
    return Loaders(
        train=BatchLoader(data.train, shuffle=True, augment=augment, mirror=data.mirror, **common),  # type: ignore[arg-type]
        val=BatchLoader(data.val, shuffle=False, augment=False, mirror=False, **common),  # type: ignore[arg-type]
    )
