"""Data: the sources `--data` names, read into memory, and resumable batch loaders over them.

Knows image files and tensors; nothing of specs' blocks, models or training. The data decide
channels and classes; the pipeline decides the size (see `archgen.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archgen.data.images import ImageData, Split, channel_stats
from archgen.data.loader import BatchLoader
from archgen.data.source import USAGE, DataSource, Synthetic, parse_source

__all__ = [
    "USAGE",
    "BatchLoader",
    "DataSource",
    "ImageData",
    "Loaders",
    "Split",
    "Synthetic",
    "load_data",
    "make_loaders",
    "parse_source",
]


def load_data(source: str | DataSource, *, size: int, seed: int = 0) -> ImageData:
    """Read a data source into memory. `size` is used only by image folders whose images differ in size."""
    parsed = parse_source(source) if isinstance(source, str) else source
    if parsed.kind == "digits":
        from archgen.data.digits import load_digits_data

        return load_digits_data()
    if parsed.kind == "cifar10":
        from archgen.data.cifar import load_cifar10_data

        assert parsed.path is not None
        return load_cifar10_data(parsed.path)
    if parsed.kind == "imagefolder":
        from archgen.data.folder import load_folder_data

        assert parsed.path is not None
        return load_folder_data(parsed.path, size=size)
    from archgen.data.synthetic import load_synthetic_data

    return load_synthetic_data(parsed.synthetic or Synthetic(), seed=seed)


@dataclass(frozen=True)
class Loaders:
    """The training and validation loaders of one process."""

    train: BatchLoader
    val: BatchLoader


def make_loaders(
    data: ImageData,
    *,
    batch_size: int,
    augment: bool,
    seed: int,
    device: torch.device,
    rank: int = 0,
    world: int = 1,
) -> Loaders:
    """Loaders normalised by the training split's per-channel statistics; `batch_size` is per process."""
    mean, std = channel_stats(data.train.images)
    common = dict(batch_size=batch_size, mean=mean, std=std, seed=seed, device=device, rank=rank, world=world)
    return Loaders(
        train=BatchLoader(data.train, shuffle=True, augment=augment, mirror=data.mirror, **common),  # type: ignore[arg-type]
        val=BatchLoader(data.val, shuffle=False, augment=False, mirror=False, **common),  # type: ignore[arg-type]
    )
