"""Chunked by bytes, the same numbers: statistics equal a float64 reference (and the exact rationals), resized pixels
and synthetic images equal the unchunked computations bitwise, whatever the chunk size. Each has a control
showing the comparison would catch a difference."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

import archgen.data.images as images_module
import archgen.data.synthetic as synthetic_module
from archgen.data import load_data, parse_source
from archgen.data.images import Split, channel_stats
from archgen.data.synthetic import load_synthetic_data
from archgen.memory import CHUNK_BYTES


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of at most 3 rows, so every loop below runs many times with a short last chunk."""
    monkeypatch.setattr(images_module, "rows_per_chunk", lambda row_bytes: 3)


def float64_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """The reference: what the statistics were before (float64 copies of the images)."""
    pixels = images.to(torch.float64) / 255
    mean = pixels.mean(dim=(0, 2, 3))
    std = (pixels.square().mean(dim=(0, 2, 3)) - mean.square()).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (17, 3, 9, 7), (10, 1, 32, 32), (5, 4, 13, 13)])
def test_statistics_equal_the_float64_reference(shape: tuple[int, ...], tiny_chunks: None) -> None:
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    mean, std = channel_stats(images)
    reference_mean, reference_std = float64_stats(images)
    assert mean == pytest.approx(reference_mean, rel=1e-12, abs=1e-15)
    assert std == pytest.approx(reference_std, rel=1e-12, abs=1e-15)
    nudged = images.clone()
    nudged.view(-1)[-1] ^= 1  # control: one pixel one level off moves the statistics past that tolerance
    nudged_mean, nudged_std = float64_stats(nudged)
    assert nudged_mean != pytest.approx(mean, rel=1e-12, abs=1e-15) or nudged_std != pytest.approx(std, rel=1e-12)


def test_statistics_are_the_exact_values_rounded_once(tiny_chunks: None) -> None:
    images = torch.randint(0, 256, (40, 3, 11, 11), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    mean, _ = channel_stats(images)
    for channel in range(3):
        values = images[:, channel].flatten().tolist()
        assert mean[channel] == float(Fraction(sum(values), len(values) * 255))


def test_a_constant_channel_has_the_floor_deviation() -> None:
    """As before: a constant channel normalises by sqrt(1e-12), not by zero."""
    mean, std = channel_stats(torch.full((4, 2, 5, 5), 51, dtype=torch.uint8))
    assert mean == (0.2, 0.2) and std == (1e-6, 1e-6)


def _whole(images: torch.Tensor, size: int, *, align_corners: bool = False) -> torch.Tensor:
    """The reference: every image interpolated in one call, as before."""
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True,
                            align_corners=align_corners)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


@pytest.mark.parametrize(("shape", "size"), [((10, 3, 32, 32), 24), ((7, 1, 8, 8), 30), ((5, 2, 31, 31), 64)])
def test_resizing_in_chunks_gives_the_same_pixels(shape: tuple[int, ...], size: int, tiny_chunks: None) -> None:
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(shape[0])
    resized = images_module._resize(Split(images, labels), size)
    assert torch.equal(resized.images, _whole(images, size)) and resized.labels is labels
    assert not torch.equal(resized.images, _whole(images, size, align_corners=True))  # control: a near miss


def test_resized_data_equal_the_reference_on_digits() -> None:
    data = load_data("digits", size=8)
    assert torch.equal(data.resized(32).val.images, _whole(data.val.images, 32))


def previous_synthetic(text: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: synthetic training images as archgen drew them before they were chunked by bytes."""
    shape = parse_source(text).synthetic
    assert shape is not None
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(shape.classes, shape.channels, 4, 4, generator=generator) * 255
    templates = F.interpolate(coarse, size=(shape.size, shape.size), mode="bilinear", align_corners=False)
    labels = torch.randint(templates.shape[0], (shape.train,), generator=generator)
    images = torch.empty((shape.train, *templates.shape[1:]), dtype=torch.uint8)
    for start in range(0, shape.train, 1024):
        chunk = labels[start : start + 1024]
        noise = torch.randn((len(chunk), *templates.shape[1:]), generator=generator) * synthetic_module.NOISE
        images[start : start + 1024] = (templates[chunk] + noise).round_().clamp_(0, 255).to(torch.uint8)
    return images, labels


@pytest.mark.parametrize("text", ["synthetic:3x8x8,classes=4,train=2100,val=3",
                                  "synthetic:1x7x7,classes=3,train=1500,val=2",
                                  "synthetic:2x1x1,classes=2,train=1100,val=1",
                                  "synthetic:3x96x96,classes=300,train=1030,val=1"])
def test_synthetic_images_are_the_ones_a_seed_gave_before(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 1,024 images (the old draw), and of 64 and 16 when the images are big (3x96x96 here, as the budget
    shrinks): the same numbers either way."""
    images, labels = previous_synthetic(text, seed=4)
    shape = parse_source(text).synthetic
    assert shape is not None
    for budget in (CHUNK_BYTES, 64 * 3 * 4 * 3 * 96 * 96, 16 * 3 * 4 * 3 * 96 * 96):
        monkeypatch.setattr(synthetic_module, "rows_per_chunk", lambda row_bytes, b=budget: max(1, b // row_bytes))
        data = load_synthetic_data(shape, seed=4)
        assert torch.equal(data.train.images, images) and torch.equal(data.train.labels, labels)
    assert not torch.equal(load_synthetic_data(shape, seed=5).train.images, images)  # control: another seed differs
