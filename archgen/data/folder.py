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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from archgen.data.images import ImageData, Split
from archgen.errors import DataError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
VAL_FOLDERS = ("val", "test")
MAX_BYTES = 8 * 2**30  # decoded uint8 pixels archgen holds in memory
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit greys (PIL reads 32-bit "I" the same way)
GREY_MODES = ("1", "L", "LA", "F", *WIDE_MODES)

Files = list[tuple[Path, int]]


def load_folder_data(root: Path, *, size: int) -> ImageData:
    """Decode every image under `root`; `size` is used only when the images are not all one square size."""
    layout = f"{root}/train/<class>/<image> and {root}/val/<class>/<image> (or test/)"
    if not root.is_dir():
        raise DataError(f"imagefolder:{root}: no such folder; expected {layout}")
    train_dir = root / "train"
    val_dir = next((root / name for name in VAL_FOLDERS if (root / name).is_dir()), None)
    if not train_dir.is_dir() or val_dir is None:
        missing = "train/" if not train_dir.is_dir() else "val/ or test/"
        raise DataError(f"imagefolder:{root}: no {missing} folder; expected {layout}")
    classes = _class_names(train_dir)
    train_files, val_files = _files(train_dir, classes), _files(val_dir, classes)
    with _strict_bombs():
        channels, native = _survey([path for path, _ in train_files + val_files])
        target = native or size
        _check_memory(root, len(train_files) + len(val_files), channels, target)
        train, val = _decode(train_files, channels, target), _decode(val_files, channels, target)
    return ImageData(
        source=f"imagefolder:{root}", train=train, val=val, class_names=classes, native_size=None if native else size
    )


def _class_names(train_dir: Path) -> tuple[str, ...]:
    classes = tuple(sorted(entry.name for entry in _folders(train_dir)))
    if len(classes) < 2:
        raise DataError(f"{train_dir}: expected a sub-folder per class (at least 2), found {len(classes)}")
    return classes


def _files(split_dir: Path, classes: tuple[str, ...]) -> Files:
    """(image path, class index) of every image in a split, in a fixed order."""
    unknown = sorted(entry.name for entry in _folders(split_dir) if entry.name not in classes)
    if unknown:
        raise DataError(f"{split_dir}: class folders {', '.join(unknown)} are not in train/ ({', '.join(classes)})")
    files = []
    for index, name in enumerate(classes):
        folder = split_dir / name
        images = sorted(_images(folder)) if folder.is_dir() else []
        if not images and split_dir.name == "train":
            raise DataError(f"{folder}: no images (expected files ending in {', '.join(EXTENSIONS)})")
        files += [(path, index) for path in images]
    if not files:
        raise DataError(f"{split_dir}: no images in any class folder")
    return files


def _folders(parent: Path) -> list[Path]:
    return [entry for entry in parent.iterdir() if entry.is_dir() and not entry.name.startswith(".")]


def _images(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.suffix.lower() in EXTENSIONS and not path.name.startswith(".")]


def _survey(paths: list[Path]) -> tuple[int, int | None]:
    """(channels, the one square size of all images or None), from the image headers only."""
    def header(path: Path) -> tuple[str, tuple[int, int]]:
        with _open(path) as image:
            return image.mode, image.size

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        headers = list(pool.map(header, paths))
    channels = 1 if all(mode in GREY_MODES for mode, _ in headers) else 3
    sizes = Counter(size for _, size in headers)
    (width, height), _ = sizes.most_common(1)[0]
    return channels, width if len(sizes) == 1 and width == height else None


def _check_memory(root: Path, count: int, channels: int, size: int) -> None:
    needed = count * channels * size * size
    if needed > MAX_BYTES:
        raise DataError(
            f"imagefolder:{root}: {count:,} images at {size}x{size} need {needed / 2**30:.1f} GiB in memory, "
            f"more than archgen holds ({MAX_BYTES / 2**30:.0f} GiB); use a smaller input.size"
        )


def _decode(files: Files, channels: int, size: int) -> Split:
    def read(path: Path) -> np.ndarray:
        with _open(path) as image:
            try:
                image = _to_8bit(image).convert("L" if channels == 1 else "RGB")
            except (OSError, ValueError) as error:  # truncated or corrupt pixel data
                raise DataError(f"{path}: not an image archgen can read ({error})") from None
            if image.size != (size, size):
                image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)  # shorter side, centre crop
            return np.array(image, dtype=np.uint8).reshape(size, size, channels)  # a writable copy

    images = torch.empty((len(files), channels, size, size), dtype=torch.uint8)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:  # PIL decodes without the GIL
        for index, array in enumerate(pool.map(read, [path for path, _ in files])):
            images[index] = torch.from_numpy(array).permute(2, 0, 1)  # (C, H, W)
    return Split(images, torch.tensor([label for _, label in files], dtype=torch.int64))


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit greys scaled to 0..255: PIL's own convert("L") clips them, so most pixels would read 255."""
    if image.mode not in WIDE_MODES:
        return image
    wide = np.asarray(image).astype(np.int64).clip(0, 65535)
    return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")


def _open(path: Path) -> Image.Image:
    """The image at `path`, header read only; a FIFO or device is refused before opening (opening one would block)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise DataError(f"{path}: not a regular file (a folder, FIFO, socket or device named like an image)")
        return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:  # see _strict_bombs
        raise DataError(f"{path}: refused as a possible decompression bomb ({error})") from None
    except (OSError, UnidentifiedImageError) as error:  # also a dangling link or a symlink loop
        raise DataError(f"{path}: not an image archgen can read ({error})") from None


@contextlib.contextmanager
def _strict_bombs() -> Iterator[None]:
    """PIL only warns between MAX_IMAGE_PIXELS and twice that; archgen refuses those images too, in one line.

    The filter list is process-wide, so the decoding threads see it; the main thread sets and restores it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield
