"""Image folders: `DIR/train/<class>/*.png|jpg…` and `DIR/val/` (or `DIR/test/`), decoded once into memory.

Class indices follow sorted folder names, as torchvision's ImageFolder. Images of one square size
keep it; otherwise each is resized (shorter side) and centre-cropped to the size asked for.
"""

from __future__ import annotations

import contextlib
import os
import stat
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from archgen.data.images import ImageData, Split, files_fingerprint, resize_bytes
from archgen.errors import DataError, printable
from archgen.memory import allocating
from archgen.memory import size as size_of  # `size` is the size asked for, here

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
VAL_FOLDERS = ("val", "test")
MAX_BYTES = 8 * 2**30  # decoded uint8 pixels archgen holds in memory (and never more than the memory left)
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit greys (PIL reads 32-bit "I" the same way)
GREY_MODES = ("1", "L", "LA", "F", *WIDE_MODES)
# Bytes per pixel on disk one image takes while it decodes, converts and is fitted (measured on 12-megapixel
# images: 8.3 for RGB, RGBA and palette images, 19.1 for 16-bit greys), with a margin; and per pixel of the
# fitted image (PIL's 4-byte RGBX, and the array copied from it).
DECODE_BYTES, WIDE_DECODE_BYTES, FITTED_BYTES = 12, 24, 8
DECODING_BYTES = 2**30  # all decoding threads' temporaries together: big photos decode on fewer threads
LABEL_BYTES = 8  # an int64 label per image
SHOWN_NAMES = 10  # folder names a message lists before "and N more"

Files = list[tuple[Path, int]]


@dataclass(frozen=True)
class Survey:
    """What the image headers say, before any pixel is decoded."""

    channels: int
    native: int | None
    """The one square size of all images, or None when they differ."""
    decoding: int
    """The most bytes one image takes while it decodes."""


@dataclass(frozen=True)
class Load:
    """How a folder will be decoded: the bytes it takes at its peak, what for (for the message), on how many threads."""

    bytes: int
    what: str
    workers: int


def load_folder_data(root: Path, *, size: int, held_out: Sequence[str] = VAL_FOLDERS) -> ImageData:
    """Decode every image under `root`; `size` is used only when the images are not all one square size.
    held_out: the folder names the validation split may have, the first that exists taken (evaluation: test/).

    Refused in one line, before any pixel is decoded, when the images (and a copy resized to `size`, which the
    pipeline makes when the network's strides need it) would not fit in the memory this process may take.
    """
    where = f"imagefolder:{printable(str(root))}"
    train_dir, val_dir = split_folders(root, where, held_out=held_out)
    classes = class_names(train_dir)
    train_files, val_files = _files(train_dir, classes), _files(val_dir, classes)
    with strict_bombs():
        survey = _survey([path for path, _ in train_files + val_files])
        target = survey.native or size
        load = _plan(where, len(train_files) + len(val_files), survey, target, size)
        with allocating(load.bytes, load.what):
            train = _decode(train_files, survey.channels, target, load.workers)
            val = _decode(val_files, survey.channels, target, load.workers)
    native_size = None if survey.native else size
    fingerprint = files_fingerprint([path for path, _ in train_files + val_files], root)
    return ImageData(source=f"imagefolder:{root}", train=train, val=val, class_names=classes, native_size=native_size,
                     files=fingerprint)


def fits_in_memory(images: Sequence[Path], *, size: int, sample: Sequence[int]) -> bool:
    """Whether `load_folder_data` of a folder holding `images` stays under the MAX_BYTES cap (else it is streamed).

    A function of the files alone, never of the memory free now, so a resumed run reads its data the same way.
    When the headers of the images at `sample` already differ in size, the images would be decoded at `size` and
    the count alone may settle it; otherwise every header is read, as the load itself would.
    """
    with strict_bombs():
        sampled = _survey([images[index] for index in sample])
        if sampled.native is None:  # mixed sizes: decoded at `size`, with 1 or 3 channels
            least, most = (decoded_bytes(len(images), channels, size) for channels in (1, 3))
            if least > MAX_BYTES or most <= MAX_BYTES:
                return most <= MAX_BYTES
        survey = _survey(list(images))
    return decoded_bytes(len(images), survey.channels, survey.native or size) <= MAX_BYTES


def decoded_bytes(count: int, channels: int, size: int) -> int:
    """What `count` images decoded at `size` take in memory, with their labels."""
    return count * (channels * size * size + LABEL_BYTES)


def split_folders(root: Path, where: str, *, held_out: Sequence[str] = VAL_FOLDERS) -> tuple[Path, Path]:
    """`root/train` and `root/val` (or `root/test`: the first of `held_out` that exists), or one line saying what
    is missing."""
    shown = printable(str(root))
    layout = f"{shown}/train/<class>/<image> and {shown}/{held_out[0]}/<class>/<image>" + \
        "".join(f" (or {name}/)" for name in held_out[1:])
    if not root.is_dir():
        raise DataError(f"{where}: no such folder; expected {layout}")
    train_dir = root / "train"
    val_dir = next((root / name for name in held_out if (root / name).is_dir()), None)
    if not train_dir.is_dir() or val_dir is None:
        missing = "train/" if not train_dir.is_dir() else " or ".join(f"{name}/" for name in held_out)
        raise DataError(f"{where}: no {missing} folder; expected {layout}")
    return train_dir, val_dir


def class_names(train_dir: Path) -> tuple[str, ...]:
    """The sorted class folder names (as torchvision's ImageFolder): a class index is a position here."""
    classes = tuple(sorted(entry.name for entry in _folders(train_dir)))
    if len(classes) < 2:
        raise DataError(f"{printable(str(train_dir))}: expected a sub-folder per class (at least 2), "
                        f"found {len(classes)}")
    return classes


def _files(split_dir: Path, classes: tuple[str, ...]) -> Files:
    """(image path, class index) of every image in a split, in a fixed order."""
    return [(split_dir / name, index) for name, index in split_names(split_dir, classes)]


def split_names(split_dir: Path, classes: tuple[str, ...]) -> list[tuple[str, int]]:
    """(`<class>/<image>`, class index) of every image in a split: classes in order, each one's images sorted."""
    unknown = sorted(entry.name for entry in _folders(split_dir) if entry.name not in classes)
    if unknown:
        raise DataError(f"{printable(str(split_dir))}: class folders {_names(unknown)} are not in train/ "
                        f"({_names(classes)})")
    files = []
    for index, name in enumerate(classes):
        folder = split_dir / name
        images = sorted(_images(folder)) if folder.is_dir() else []
        if not images and split_dir.name == "train":
            raise DataError(f"{printable(str(folder))}: no images (expected files ending in {', '.join(EXTENSIONS)})")
        files += [(f"{name}/{image}", index) for image in images]
    if not files:
        raise DataError(f"{printable(str(split_dir))}: no images in any class folder")
    return files


def _names(names: Sequence[str]) -> str:
    """Folder names for a message: escaped, the first few only."""
    shown = ", ".join(printable(name) for name in names[:SHOWN_NAMES])
    return shown if len(names) <= SHOWN_NAMES else f"{shown} and {len(names) - SHOWN_NAMES:,} more"


def _folders(parent: Path) -> list[Path]:
    return [entry for entry in parent.iterdir() if entry.is_dir() and not entry.name.startswith(".")]


def _images(folder: Path) -> list[str]:
    """Names of the images in `folder` (sorted as paths in one folder sort: by name)."""
    with os.scandir(folder) as entries:
        names = [entry.name for entry in entries]
    return [name for name in names if PurePosixPath(name).suffix.lower() in EXTENSIONS and not name.startswith(".")]


def _survey(paths: list[Path]) -> Survey:
    """Channels, the one square size of all images (or None) and the most one image takes to decode, from the
    image headers only."""
    def header(path: Path) -> tuple[str, tuple[int, int]]:
        with open_image(path) as image:
            return image.mode, image.size

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        headers = list(pool.map(header, paths))
    channels = 1 if all(mode in GREY_MODES for mode, _ in headers) else 3
    sizes = Counter(size for _, size in headers)
    (width, height), _ = sizes.most_common(1)[0]
    decoding = max(w * h * (WIDE_DECODE_BYTES if mode in WIDE_MODES else DECODE_BYTES) for mode, (w, h) in headers)
    return Survey(channels, width if len(sizes) == 1 and width == height else None, decoding)


def _plan(where: str, count: int, survey: Survey, target: int, size: int) -> Load:
    """The load's peak and its decoding threads: the decoded images and labels, a copy resized to `size` when the
    images keep a size of their own, and each thread's temporaries (as many threads as DECODING_BYTES allows)."""
    kept = decoded_bytes(count, survey.channels, target)
    if kept > MAX_BYTES:
        raise DataError(
            f"{where}: {count:,} images at {target}x{target} need {size_of(kept)} in memory, "
            f"more than archgen holds ({size_of(MAX_BYTES)}); use a smaller input.size"
        )
    what = f"{where}: decoding {count:,} {survey.channels}-channel images at {target}x{target}"
    resized = 0
    if survey.native is not None and survey.native != size:
        resized = resize_bytes(count, survey.channels, target, size)
        what += f" beside a copy resized to {size}x{size} (for networks whose strides need it)"
    per_thread = survey.decoding + FITTED_BYTES * target * target
    workers = min(os.cpu_count() or 1, max(1, DECODING_BYTES // per_thread))
    return Load(kept + resized + workers * per_thread, what, workers)


def _decode(files: Files, channels: int, size: int, workers: int) -> Split:
    """Every image decoded into one preallocated uint8 tensor; each thread writes its own image in place, so
    no decoded image waits in a queue, whatever order the threads finish in."""
    images = torch.empty((len(files), channels, size, size), dtype=torch.uint8)
    pixels = images.numpy()  # (N, C, H, W), sharing the tensor's memory

    def decode(index: int) -> None:
        pixels[index] = _read(files[index][0], channels, size).transpose(2, 0, 1)  # (H, W, C) to (C, H, W)

    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decodes without the GIL
        for _ in pool.map(decode, range(len(files))):  # the first failure in file order is raised, the rest cancelled
            pass
    return Split(images, torch.tensor([label for _, label in files], dtype=torch.int64))


def _read(path: Path, channels: int, size: int) -> np.ndarray:
    """One image as (size, size, channels) uint8: shorter side resized and centre-cropped when it differs."""
    with open_image(path) as image:
        return held_pixels(image, channels, size, shown=printable(str(path)))


def held_pixels(image: Image.Image, channels: int, size: int, *, shown: str) -> np.ndarray:
    """An opened image as the folder holds it, (size, size, channels) uint8: converted to grey or RGB, then its
    shorter side resized (PIL bilinear) and centre-cropped when it is not size x size."""
    try:
        image = to_8bit(image).convert("L" if channels == 1 else "RGB")
    except (OSError, ValueError) as error:  # truncated or corrupt pixel data
        raise DataError(f"{shown}: not an image archgen can read ({printable(str(error))})") from None
    if image.size != (size, size):
        image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)  # shorter side, centre crop
    return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit greys scaled to 0..255: PIL's own convert("L") clips them, so most pixels would read 255."""
    if image.mode not in WIDE_MODES:
        return image
    wide = np.asarray(image).astype(np.int64).clip(0, 65535)
    return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")


def open_image(path: Path) -> Image.Image:
    """The image at `path`, header read only; a FIFO or device is refused before opening (opening one would block)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise DataError(f"{printable(str(path))}: not a regular file (a folder, FIFO, socket or device named "
                            "like an image)")
        return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:  # see strict_bombs
        raise DataError(f"{printable(str(path))}: refused as a possible decompression bomb "
                        f"({printable(str(error))})") from None
    except (OSError, UnidentifiedImageError) as error:  # also a dangling link or a symlink loop
        raise DataError(f"{printable(str(path))}: not an image archgen can read ({printable(str(error))})") from None


@contextlib.contextmanager
def strict_bombs() -> Iterator[None]:
    """PIL only warns between MAX_IMAGE_PIXELS and twice that; archgen refuses those images too, in one line.

    The filter list is process-wide, so the decoding threads see it; the main thread sets and restores it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield
