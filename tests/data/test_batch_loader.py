"""The one loader: one order per (seed, epoch), resumable at any step, sharded like DistributedSampler; the paper's
augmentation computed batched on the device equal to the per-image reference; what a loader says of its batches."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

import archgen.data.crops as crops
from archgen.data import Loader, Split, load_data, make_loaders, order
from archgen.data.crops import crop_flip, epoch_draws, paper_pad
from archgen.data.device_batches import DeviceBatches
from archgen.data.images import channel_stats
from archgen.data.views import Normalise
from archgen.spec.schema import Train

CPU = torch.device("cpu")


def _split(count: int = 10, size: int = 8) -> Split:
    images = torch.arange(count * size * size, dtype=torch.int64).remainder(251).to(torch.uint8)
    return Split(images.view(count, 1, size, size), torch.arange(count))


def _loader(split: Split, *, batch_size: int = 4, shuffle: bool = True, augment: bool = False, mirror: bool = True,
            seed: int = 3, rank: int = 0, world: int = 1, device: torch.device = CPU) -> Loader:
    """Device batches of `split`, normalised to the raw pixel values (mean 0, std 1/255)."""
    maker = DeviceBatches(split, home=device, device=device, augment=augment, mirror=mirror,
                          normalise=Normalise.of((0.0,), (1 / 255,), device), seed=seed, rank=rank)
    made = order.of_split(len(split), train=shuffle, seed=seed, rank=rank, world=world)
    return Loader(made, maker, batch_size=batch_size, device=device)


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
    data = load_data("digits", size=8)
    loaders = make_loaders(data, batch_size=2000, augment=False, seed=0, device=CPU)
    (images, _), = loaders.train.batches(0)
    assert images.mean().item() == pytest.approx(0, abs=1e-4) and images.std().item() == pytest.approx(1, abs=1e-3)
    assert (loaders.mean, loaders.std) == channel_stats(data.train.images)  # what the loaders say they applied


def test_crop_and_flip_match_the_per_image_reference() -> None:
    """Pad p, crop at each drawn offset, mirror some: as torchvision's RandomCrop(padding=p) + flip would, per image."""
    split = _split(6, size=8)
    loader = _loader(split, augment=True, batch_size=6)
    offsets, flips = epoch_draws(3, 0, 0, 6, paper_pad(8), mirror=True)
    (augmented, labels), = loader.batches(0)
    for image, label, (dy, dx), flip in zip(augmented, labels, offsets.tolist(), flips.tolist(), strict=True):
        padded = F.pad(split.images[label].float(), (paper_pad(8),) * 4)
        expected = padded[:, dy : dy + 8, dx : dx + 8]
        assert torch.equal(image, expected.flip(2) if flip else expected)
    assert paper_pad(8) == 1 and paper_pad(32) == 4 and paper_pad(224) == 28  # the paper's 4 of 32 pixels, scaled
    assert flips.any() and not flips.all()  # control: both kinds of image were checked


@pytest.mark.parametrize("size", [5, 12])
@pytest.mark.parametrize("way", [crop_flip, crops._gathered], ids=["host", "device"])
def test_crop_flip_is_the_reference_at_every_offset(size: int, way: Callable[..., torch.Tensor]) -> None:
    """Both ways of the one crop and flip (slices on the host, a gather on an accelerator, run here on the CPU)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 3, size, size + 1), dtype=torch.uint8, generator=generator)  # not square
    pad = paper_pad(size)
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            offsets, flips = torch.tensor([[top, left], [top, left]]), torch.tensor([False, True])
            made = way(images, pad, offsets, flips)
            cut = F.pad(images, (pad,) * 4)[:, :, top : top + size, left : left + size + 1]
            assert torch.equal(made[0], cut[0]) and torch.equal(made[1], cut[1].flip(2))
    last = way(images.contiguous(memory_format=torch.channels_last), pad, offsets, flips)  # a PIL image's layout
    assert torch.equal(last, made) and made.is_contiguous()


def test_no_flips_where_a_mirror_changes_the_class() -> None:
    assert not epoch_draws(3, 0, 0, 64, 1, mirror=False)[1].any()
    assert epoch_draws(3, 0, 0, 64, 1, mirror=True)[1].any()
    assert torch.equal(epoch_draws(3, 0, 0, 64, 1, mirror=False)[0], epoch_draws(3, 0, 0, 64, 1, mirror=True)[0])


def test_only_device_batches_of_data_on_a_gpu_are_capturable() -> None:
    """On the CPU the device batches materialize but nothing is captured; on an accelerator (the meta device stands
    for one) images held there are; the recipes' views never are."""
    data = load_data("synthetic:3x8x8,classes=2,train=16,val=4", size=8)
    on_cpu = make_loaders(data, batch_size=4, augment=True, seed=0, device=CPU).train
    assert on_cpu.resident and not on_cpu.capturable
    batch = next(iter(on_cpu.batches(0)))
    images, _ = batch
    assert torch.equal(on_cpu.materialize(batch.index, batch.offsets, batch.flips)[0], images)  # type: ignore[union-attr]
    assert _loader(_split(), device=torch.device("meta")).capturable  # control: held on the accelerator
    lit = make_loaders(data, batch_size=4, augment=Train(augment="cifar", lighting=0.1), seed=0, device=CPU).train
    assert not lit.resident and not lit.capturable
    with pytest.raises(TypeError, match="nothing to materialize"):
        lit.materialize(batch.index, batch.offsets, batch.flips)  # type: ignore[union-attr]


def test_a_split_too_large_for_the_gpu_stays_in_host_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import archgen.data.loader as loader_module

    monkeypatch.setattr(loader_module, "RESIDENT_BYTES", 8 * 8 * 3 * 16 - 1)  # one byte short of the training split
    data = load_data("synthetic:3x8x8,classes=2,train=16,val=4", size=8)
    assert loader_module._home(data.train, torch.device("cuda", 0)) == CPU
    assert loader_module._home(data.val, torch.device("cuda", 0)) == torch.device("cuda", 0)
    assert loader_module._home(data.val, CPU) == CPU

