"""The order a process reads a split in, for every loader: a function of (seed, epoch, rank, world) and the split.

Images in memory and image folders: DistributedSampler's order (a permutation per epoch, padded to whole shards,
every world-th index), computed as a tensor. Tar shards: the epoch's shard order, cut into one contiguous run of
samples per process (so processes read disjoint shards but for the two at each cut), shuffled within windows, as a
shuffle buffer would, but reproducibly. Validation: every sample once, split between processes without padding
(shards kept together). Knows no files.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

WINDOW = 4096  # samples shuffled together in a shard stream: a few shards' worth (write shards shuffled)

Order = Callable[[int], Tensor]
"""epoch -> the sample indices (int64) this process reads in that epoch, in order."""


def of_split(count: int, *, train: bool, seed: int, rank: int, world: int,
             per_shard: np.ndarray | None = None) -> Order:
    """The order of a split of `count` samples (held in memory or in files; in tar shards of `per_shard` samples
    each, in shard order): shuffled every epoch for training, fixed for validation."""
    if per_shard is not None:
        shards = per_shard
        if train:
            return lambda epoch: shard_stream(shards, seed=seed, epoch=epoch, rank=rank, world=world)
        return lambda epoch: contiguous(count, rank=rank, world=world)
    if train:
        return lambda epoch: shuffled(count, seed=seed, epoch=epoch, rank=rank, world=world)
    return lambda epoch: strided(count, rank=rank, world=world)


def shuffled(count: int, *, seed: int, epoch: int, rank: int, world: int) -> Tensor:
    """`list(DistributedSampler(range(count), world, rank, shuffle=True, seed=seed))` at `epoch`, as int64."""
    generator = torch.Generator().manual_seed(seed + epoch)
    indices = torch.randperm(count, generator=generator)
    return _strided(_padded(indices, world), rank, world)


def strided(count: int, *, rank: int, world: int) -> Tensor:
    """Every sample once, process `rank` taking every world-th (the in-memory validation split's way)."""
    return torch.arange(rank, count, world)


def shard_stream(per_shard: np.ndarray, *, seed: int, epoch: int, rank: int, world: int) -> Tensor:
    """Sample indices of this process's run through the epoch's shards.

    The shards are permuted by (seed, epoch); their samples, concatenated in that order and padded by wrapping
    to a multiple of `world`, are cut into `world` contiguous runs, one per process; each run is shuffled within
    windows of WINDOW samples, seeded by (seed, epoch, rank, window).
    """
    starts = np.concatenate([[0], np.cumsum(per_shard)[:-1]])
    permutation = np.random.default_rng([seed, epoch]).permutation(len(per_shard))
    stream = torch.from_numpy(np.concatenate([np.arange(starts[s], starts[s] + per_shard[s]) for s in permutation]))
    padded = _padded(stream, world)
    share = len(padded) // world
    run = padded[rank * share : (rank + 1) * share].clone()
    for first in range(0, share, WINDOW):
        window = run[first : first + WINDOW]
        mixed = np.random.default_rng([seed, epoch, rank, first // WINDOW]).permutation(len(window))
        run[first : first + WINDOW] = window[torch.from_numpy(mixed)]
    return run


def contiguous(count: int, *, rank: int, world: int) -> Tensor:
    """Every sample once, process `rank` taking the rank-th of `world` contiguous runs (shards stay together)."""
    return torch.arange(rank * count // world, (rank + 1) * count // world)


def _padded(indices: Tensor, world: int) -> Tensor:
    """Repeated from the start up to a multiple of `world`, as DistributedSampler pads."""
    total = -(-len(indices) // world) * world
    repeats = -(-total // len(indices))
    return indices.repeat(repeats)[:total]


def _strided(indices: Tensor, rank: int, world: int) -> Tensor:
    return indices[rank::world]
