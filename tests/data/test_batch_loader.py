"""Batch loaders: one order per (seed, epoch), resumable at any step, sharded like DistributedSampler, and the
paper's augmentation computed batched equal to the per-image reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from archgen.data import Split, load_data, make_loaders
from archgen.data.loader import BatchLoader

CPU = torch.device("cpu")


def _split(count: int = 10, size: int = 8) -> Split:
    images = torch.arange(count * size * size, dtype=torch.int64).remainder(251).to(torch.uint8)
    return Split(images.view(count, 1, size, size), torch.arange(count))


def _loader(split: Split, **options: object) -> BatchLoader:
    settings: dict[str, object] = dict(
        batch_size=4, shuffle=True, augment=False, mirror=True, mean=(0.0,), std=(1 / 255,), seed=3, device=CPU
    )
    settings.update(options)
    return BatchLoader(split, **settings)  # type: ignore[arg-type]


def test_order_is_a_function_of_seed_and_epoch() -> None:
    loader = _loader(_split())
    labels = [torch.cat([y for _, y in loader.batches(epoch)]).tolist() for epoch in (0, 0, 1)]
    assert labels[0] == labels[1] != labels[2]
    assert sorted(labels[0]) == list(range(10)) and len(loader) == 3
    other_seed = torch.cat([y for _, y in _loader(_split(), seed=4).batches(0)]).tolist()
    assert other_seed != labels[0]


def test_order_is_distributed_samplers() -> None:
    loader = _loader(_split(), rank=1, world=2)
    sampler = DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=True, seed=3)  # type: ignore[arg-type]
    sampler.set_epoch(5)
    assert torch.cat([y for _, y in loader.batches(5)]).tolist() == list(sampler)
    assert loader.samples == 5 and len(loader) == 2


def test_starting_mid_epoch_gives_the_same_batches() -> None:
    loader = _loader(_split(), augment=True)
    full = [tuple(batch) for batch in loader.batches(2)]  # a batch unpacks as (images, labels)
    for start in range(len(full)):
        resumed = [tuple(batch) for batch in loader.batches(2, start=start)]
        pairs = zip(full[start:], resumed, strict=True)
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in pairs)


def test_validation_is_every_image_once_sharded_without_padding() -> None:
    shards = [_loader(_split(11), shuffle=False, rank=rank, world=2) for rank in (0, 1)]
    seen = sorted(label for shard in shards for _, labels in shard.batches(0) for label in labels.tolist())
    assert seen == list(range(11)) and [shard.samples for shard in shards] == [6, 5]


def test_normalised_by_training_statistics() -> None:
    loaders = make_loaders(load_data("digits", size=8), batch_size=2000, augment=False, seed=0, device=CPU)
    (images, _), = loaders.train.batches(0)
    assert images.mean().item() == pytest.approx(0, abs=1e-4) and images.std().item() == pytest.approx(1, abs=1e-3)


def test_crop_and_flip_match_the_per_image_reference() -> None:
    """Pad p, crop at each drawn offset, mirror some: as torchvision's RandomCrop(padding=p) + flip would, per image."""
    split = _split(6, size=8)
    loader = _loader(split, augment=True, batch_size=6)
    offsets, flips = loader._augmentation(0, 6)
    (augmented, labels), = loader.batches(0)
    for image, label, (dy, dx), flip in zip(augmented, labels, offsets.tolist(), flips.tolist(), strict=True):
        padded = F.pad(split.images[label].float(), (loader.pad,) * 4)
        expected = padded[:, dy : dy + 8, dx : dx + 8]
        assert torch.equal(image, expected.flip(2) if flip else expected)
    assert loader.pad == 1  # the paper's 4 of 32 pixels, scaled to 8x8


def test_no_flips_where_a_mirror_changes_the_class() -> None:
    loader = _loader(_split(64), augment=True, mirror=False)
    _, flips = loader._augmentation(0, 64)
    assert not flips.any()
    assert _loader(_split(64), augment=True)._augmentation(0, 64)[1].any()
