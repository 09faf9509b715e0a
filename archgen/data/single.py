"""One image made into the network's uint8 input exactly as a validation loader makes it: read and decoded as held
image folders (PIL, fitted to the held size, then resized to the network's as fitting resizes held data) or as
streamed images (`archgen.data.decode`), then the validation view (`archgen.data.views`). Image files, PIL images
and uint8 tensors alike; folders expand to their images. Knows images; nothing of runs, records or networks.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from archgen.data.decode import decode
from archgen.data.folder import EXTENSIONS, GREY_MODES, held_pixels, open_image, strict_bombs, to_8bit
from archgen.data.images import resize_image
from archgen.data.stream import MAX_FILE_BYTES
from archgen.data.views import Views
from archgen.errors import DataError, printable

TENSOR_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # a (C, H, W) uint8 tensor's channels read as PIL reads files
MAX_EXPANDED = 1_000_000  # images one folder argument expands to


@dataclass(frozen=True)
class Prepared:
    """One image as the network's uint8 input: (C, S, S), or (10, C, S, S) for ten crops; and the channels the
    image had (1: grey, 3: colour), which the network's may differ from (then converted as the loaders convert)."""

    pixels: Tensor
    channels: int


@dataclass(frozen=True)
class Preparation:
    """How one image becomes the network's input. held_size: images held in memory, fitted to it on loading (then
    resized to the views' size when it differs); None: streamed, decoded at their own size."""

    channels: int
    held_size: int | None
    views: Views

    def file(self, path: Path) -> Prepared:
        """An image file, read as the run's loader reads its files (a FIFO, a folder or a bomb refused in one line)."""
        shown = printable(str(path))
        if self.held_size is not None:
            with strict_bombs(), open_image(path) as image:
                own = _own_channels(image.mode)
                pixels = held_pixels(image, self.channels, self.held_size, shown=shown)
            return Prepared(self._held(torch.from_numpy(pixels.copy()).permute(2, 0, 1)), own)
        data = _read(path, shown)
        decoded = decode(data, shown, self.channels)  # refuses what is not an image, or a bomb, in one line
        return Prepared(self.views.validation(decoded), _own_channels(_mode(data)))

    def image(self, image: Image.Image, *, shown: str = "image") -> Prepared:
        """A PIL image, as if it were a file of the run's data decoded by PIL."""
        own = _own_channels(image.mode)
        if self.held_size is not None:
            pixels = held_pixels(image, self.channels, self.held_size, shown=shown)
            return Prepared(self._held(torch.from_numpy(pixels.copy()).permute(2, 0, 1)), own)
        converted = to_8bit(image).convert("L" if self.channels == 1 else "RGB")
        width, height = converted.size
        pixels = np.asarray(converted, dtype=np.uint8).reshape(height, width, self.channels)
        return Prepared(self.views.validation(torch.from_numpy(pixels.copy()).permute(2, 0, 1)), own)

    def tensor(self, pixels: Tensor, *, shown: str = "tensor") -> Prepared:
        """A (C, H, W) or (H, W) uint8 tensor: 1, 2, 3 or 4 channels read as L, LA, RGB and RGBA images are; another
        count only where the network takes it (used as it is, at the held size when held)."""
        if pixels.dtype != torch.uint8 or pixels.dim() not in (2, 3):
            raise DataError(f"{shown}: expected a (C, H, W) uint8 image tensor, got {pixels.dtype} of shape "
                            f"{tuple(pixels.shape)}")
        pixels = pixels[None] if pixels.dim() == 2 else pixels
        count = int(pixels.shape[0])
        if count == self.channels and count not in (1, 3):
            return Prepared(self._exotic(pixels, shown), count)
        if count not in TENSOR_MODES:
            raise DataError(f"{shown}: a {count}-channel tensor; images have 1 to 4 channels (L, LA, RGB, RGBA), "
                            f"the network takes {self.channels}")
        array = pixels.permute(1, 2, 0).contiguous().cpu().numpy()
        return self.image(Image.fromarray(array[..., 0] if count == 1 else array, TENSOR_MODES[count]), shown=shown)

    def _held(self, image: Tensor) -> Tensor:
        """A held image (C, held, held) as the held validation loader makes it: resized as fitting resizes held data,
        then the validation view (the whole image when it is plain)."""
        if image.shape[-1] != self.views.size:
            image = resize_image(image, self.views.size)
        return self.views.validation(image)

    def _exotic(self, pixels: Tensor, shown: str) -> Tensor:
        if self.held_size is None:
            return self.views.validation(pixels)
        if tuple(pixels.shape[-2:]) != (self.held_size, self.held_size):
            raise DataError(f"{shown}: {pixels.shape[0]}-channel images are taken at the held size only, "
                            f"{self.held_size}x{self.held_size}; got {pixels.shape[-1]}x{pixels.shape[-2]}")
        return self._held(pixels)


def image_files(paths: Iterable[Path]) -> list[Path]:
    """The image files `paths` name: files as given, folders expanded to the images under them (sorted, hidden
    names skipped, links to folders not followed); a path that is missing, or a folder without images, is refused."""
    files: list[Path] = []
    for path in paths:
        shown = printable(str(path))
        if not os.path.lexists(path):
            raise DataError(f"{shown}: no such file or folder")
        if not path.is_dir():
            files.append(path)
            continue
        found = _images_under(path)
        if not found:
            raise DataError(f"{shown}: no images (expected files ending in {', '.join(EXTENSIONS)})")
        files += found
    return files


def _images_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [Path(root) / name for name in sorted(names)
                  if PurePosixPath(name).suffix.lower() in EXTENSIONS and not name.startswith(".")]
        if len(found) > MAX_EXPANDED:
            raise DataError(f"{printable(str(folder))}: more than {MAX_EXPANDED:,} images")
    return found


def _read(path: Path, shown: str) -> bytearray:
    """A regular file's bytes, never blocking on opening one (a FIFO opens without a writer, and is refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise DataError(f"{shown}: not an image archgen can read ({printable(error.strerror or str(error))})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{shown}: not a regular file (a folder, FIFO, socket or device named like an image)")
        if info.st_size > MAX_FILE_BYTES:
            raise DataError(f"{shown}: {info.st_size:,} bytes, more than archgen reads as one image "
                            f"({MAX_FILE_BYTES:,})")
        with os.fdopen(os.dup(fd), "rb") as file:
            return bytearray(file.read())
    finally:
        os.close(fd)


def _mode(data: bytearray) -> str:
    """The image's PIL mode, from its header (already decoded once: it opens)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.mode
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):  # pragma: no cover
        return "RGB"


def _own_channels(mode: str) -> int:
    return 1 if mode in GREY_MODES else 3
