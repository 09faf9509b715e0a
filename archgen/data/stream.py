"""Streamed data: image folders or tar shards read from disk every epoch, never held in memory whole.

Opening one lists its files (names and sizes: the fingerprint a resume checks) and reads a fixed sample of headers
for the channels; nothing is decoded. The images are decoded at the network's size by the loaders' worker processes
(`archgen.data.decode_pool`). Knows nothing of training.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import overload

import numpy as np
from PIL import Image

from archgen.data import folder
from archgen.data.catalog import Catalog, Names, sample
from archgen.data.decode import read
from archgen.data.shards import shard_catalog
from archgen.errors import DataError, printable
from archgen.spec.schema import MAX_CLASSES

SAMPLE = 512  # images whose headers give the channels and whose pixels give the normalisation statistics
SAMPLE_SEED = 0  # fixed: the statistics describe the data, not a run (every seed and every resume agree)
MAX_FILE_BYTES = 512 * 2**20  # one image file a worker reads whole


@dataclass(frozen=True)
class StreamedData:
    """A training and a validation split on disk, decoded at `size` as they are read."""

    source: str
    """The `--data` text it came from."""
    train: Catalog
    val: Catalog
    class_names: tuple[str, ...]
    channels: int
    size: int
    """The size the images are decoded at: the network's."""
    why: str
    """Why the data are streamed (a note for the run's plan)."""
    mirror: bool = True
    native_size: None = None
    """Streamed images are always fitted to `size` (ImageData's field, for fitting's rule)."""

    @property
    def classes(self) -> int:
        return len(self.class_names)

    def resized(self, size: int) -> StreamedData:
        """The same data decoded at `size`x`size`: nothing to copy, the workers fit each image as they read it."""
        return replace(self, size=size)

    def record(self) -> dict[str, object]:
        """What a run records about its data (ImageData's keys), the files' fingerprint, and that it streams."""
        files = self.train.fingerprint() + "; " + self.val.fingerprint()
        return {"source": self.source, "train images": len(self.train), "val images": len(self.val),
                "classes": self.classes, "class names": list(self.class_names), "image size": self.size,
                "channels": self.channels, "files": files, "loader": "stream"}


@dataclass(frozen=True)
class Listing:
    """An image folder's splits, classes and image names (the in-memory loader's layout and class order)."""

    source: str
    train_dir: Path
    val_dir: Path
    class_names: tuple[str, ...]
    train: list[tuple[str, int]]
    """(`<class>/<image>`, class index) of every training image."""
    val: list[tuple[str, int]]

    def images(self) -> FolderImages:
        """Every image's path, training then validation, made when asked (for `folder.fits_in_memory`)."""
        return FolderImages([(self.train_dir, self.train), (self.val_dir, self.val)])


def list_folder(root: Path, *, source: str, held_out: Sequence[str] = folder.VAL_FOLDERS) -> Listing:
    train_dir, val_dir = folder.split_folders(root, printable(source), held_out=held_out)
    classes = folder.class_names(train_dir)
    return Listing(source, train_dir, val_dir, classes, folder.split_names(train_dir, classes),
                   folder.split_names(val_dir, classes))


def open_folder(listing: Listing, *, size: int, why: str) -> StreamedData:
    """An image folder streamed at `size`: every file's size read now, nothing decoded."""
    train, val = folder_catalog(listing.train_dir, listing.train), folder_catalog(listing.val_dir, listing.val)
    return StreamedData(listing.source, train, val, listing.class_names, _channels(train), size, why)


def open_shards(train: str, val: str, *, size: int, source: str) -> StreamedData:
    """Tar shards: classes are the `.cls` indices 0..K-1, K one more than the largest training label."""
    train_catalog, val_catalog = shard_catalog(train, split="training"), shard_catalog(val, split="validation")
    classes = int(train_catalog.labels.max()) + 1
    if classes < 2:
        raise DataError(f"wds:{printable(train)}: every training sample is of class 0; expected at least 2 classes")
    if int(val_catalog.labels.max()) >= classes:
        raise DataError(f"wds:{printable(val)}: validation class {int(val_catalog.labels.max()):,} is not among the "
                        f"training classes 0..{classes - 1:,}")
    names = tuple(str(index) for index in range(min(classes, MAX_CLASSES)))
    why = "tar shards are always streamed"
    return StreamedData(source, train_catalog, val_catalog, names, _channels(train_catalog), size, why)


def folder_catalog(split_dir: Path, names: list[tuple[str, int]]) -> Catalog:
    """Every image's size, read now (one stat each, links followed): links that lead nowhere, FIFOs, devices and
    files too big to read whole are refused in one line before anything is decoded."""
    root = os.fsencode(split_dir)
    encoded = [os.fsencode(name) for name, _ in names]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        sizes = list(pool.map(lambda name: _size(os.path.join(root, name)), encoded))
    return Catalog(root=root, files=Names(encoded), sizes=np.array(sizes, dtype=np.int64),
                   labels=np.array([label for _, label in names], dtype=np.int64))


def _size(path: bytes) -> int:
    shown = printable(os.fsdecode(path))
    try:
        info = os.stat(path)
    except OSError as error:  # a dangling link, a link loop
        raise DataError(f"{shown}: not an image archgen can read ({printable(str(error))})") from None
    if not (info.st_mode & 0o170000 == 0o100000):  # S_ISREG
        raise DataError(f"{shown}: not a regular file (a folder, FIFO, socket or device named like an image)")
    if info.st_size > MAX_FILE_BYTES:
        raise DataError(f"{shown}: {info.st_size:,} bytes, more than archgen reads as one image "
                        f"({MAX_FILE_BYTES:,})")
    return info.st_size


def _channels(train: Catalog) -> int:
    """1 when every sampled image is grey, else 3 (the in-memory rule, on a fixed sample of headers)."""
    def mode(index: int) -> str:
        location = train.locate(index)
        try:
            with Image.open(io.BytesIO(read(location))) as image:
                return image.mode
        except Image.DecompressionBombError as error:
            raise DataError(f"{location.shown}: refused as a possible decompression bomb "
                            f"({printable(str(error))})") from None
        except (OSError, ValueError, SyntaxError) as error:
            raise DataError(f"{location.shown}: not an image archgen can read ({printable(str(error))})") from None

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        modes = list(pool.map(mode, sample(len(train), SAMPLE, seed=SAMPLE_SEED)))
    return 1 if all(mode in folder.GREY_MODES for mode in modes) else 3


class FolderImages(Sequence[Path]):
    """Image paths made one at a time from (folder, names) parts: a million Path objects would take most of a
    gigabyte."""

    def __init__(self, parts: list[tuple[Path, list[tuple[str, int]]]]) -> None:
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(names) for _, names in self.parts)

    @overload
    def __getitem__(self, index: int) -> Path: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Path]: ...

    def __getitem__(self, index: int | slice) -> Path | Sequence[Path]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        for split_dir, names in self.parts:
            if index < len(names):
                return split_dir / names[index][0]
            index -= len(names)
        raise IndexError(index)
