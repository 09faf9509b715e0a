"""Data: the sources `--data` names, read into memory or streamed from disk, and resumable batch loaders over them.

Knows image files and tensors; nothing of specs' blocks, models or training. The data decide
channels and classes; the pipeline decides the size (see `archgen.training`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archgen.data.images import ImageData, Split, channel_stats
from archgen.data.loader import BatchLoader
from archgen.data.source import USAGE, DataSource, Synthetic, parse_source
from archgen.data.stream import StreamedData
from archgen.data.stream_loader import StreamLoader
from archgen.data.view_loader import ViewLoader
from archgen.data.views import Views
from archgen.errors import DataError, printable
from archgen.spec.schema import AugmentKind, Train

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
    "ViewLoader",
    "Views",
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

    train: BatchLoader | StreamLoader | ViewLoader
    val: BatchLoader | StreamLoader | ViewLoader


def make_loaders(
    data: ImageData | StreamedData,
    *,
    batch_size: int,
    augment: bool | AugmentKind | Train,
    seed: int,
    device: torch.device,
    rank: int = 0,
    world: int = 1,
    workers: int | None = None,
) -> Loaders:
    """Loaders normalised by the training split's per-channel statistics; `batch_size` is per process.

    augment: the recipe (its augmentation, lighting, validation crops and workers), or True / "cifar" for the paper's
    CIFAR augmentation and False / "none" for none, with the recipe's defaults otherwise. Streamed data are read by
    `workers` processes (default: the recipe's, else this process's share of the CPUs). A recipe that cannot apply to
    the data is refused in one DataError line.
    """
    recipe = _recipe(augment)
    views = Views.of(recipe, size=data.size, mirror=data.mirror, channels=data.channels, source=data.source)
    augmented = views.augment != "none"
    if isinstance(data, StreamedData):
        from archgen.data.stream_loader import stream_loaders

        train, val = stream_loaders(data, views=views, augment=augmented, batch_size=batch_size, seed=seed,
                                    device=device, rank=rank, world=world,
                                    workers=recipe.workers if workers is None else workers)
        return Loaders(train=train, val=val)
    _check_held_sizes(data, views)
    mean, std = channel_stats(data.train.images)
    common = dict(batch_size=batch_size, mean=mean, std=std, seed=seed, device=device, rank=rank, world=world)
    return Loaders(
        train=BatchLoader(data.train, shuffle=True, augment=views.augment == "cifar", mirror=data.mirror, **common)  # type: ignore[arg-type]
        if views.plain_training else ViewLoader(data.train, views, train=True, **common),  # type: ignore[arg-type]
        val=BatchLoader(data.val, shuffle=False, augment=False, mirror=False, **common)  # type: ignore[arg-type]
        if views.plain_validation else ViewLoader(data.val, views, train=False, **common),  # type: ignore[arg-type]
    )


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
    if views.augment == "scale" and original < views.scale[0]:
        raise DataError(f"{shown} are smaller than the {views.scale[0]}-{views.scale[1]} pixels scale augmentation "
                        "resizes their shorter side to; use augment = 'cifar' or 'random-resized-crop', a scale range "
                        "for these images, or stream: data at their own sizes")
    if views.eval_resize is not None and views.eval_resize > original:  # (without it: the held image, whole)
        raise DataError(f"{shown} are smaller than the {views.eval_resize} pixels eval_resize resizes their shorter "
                        f"side to before the {data.size}x{data.size} validation crop{'s' if views.ten_crop else ''}; "
                        "leave eval_resize out, or give one of at most the images' size")
