"""Image folders and single image files written with PIL for the inference tests (real PNGs and JPEGs, a class per
colour, of one size or of several), and a folder's snapshot, to show a command changed nothing in it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "emu")


def picture(size: tuple[int, int], *, shade: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A (width, height) image of one class's shade with some texture, so crops and resizes matter."""
    width, height = size
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 60, width, dtype=np.float64)[None, :] + np.linspace(0, 40, height)[:, None]
    base = (ramp + shade + rng.integers(0, 50, size=(height, width))).clip(0, 255).astype(np.uint8)
    if mode == "L":
        return Image.fromarray(base, "L")
    channels = np.stack([base, np.roll(base, 3, axis=1), 255 - base], axis=-1)
    image = Image.fromarray(channels, "RGB")
    return image if mode == "RGB" else image.convert(mode)


def write_folder(root: Path, *, sizes: Sequence[tuple[int, int]] = ((12, 12),), suffix: str = ".png",
                 mode: str = "RGB", per_class: int = 4, val_name: str = "val", classes: Sequence[str] = CLASSES
                 ) -> Path:
    """`root/train/<class>/` and `root/<val_name>/<class>/`, images cycling through `sizes`."""
    number = 0
    for split, count in (("train", per_class), (val_name, max(1, per_class // 2))):
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for item in range(count):
                size = sizes[number % len(sizes)]
                image = picture(size, shade=70 * index, mode=mode, seed=number)
                image.save(folder / f"{item:03d}{suffix}", **({"quality": 90} if suffix == ".jpg" else {}))
                number += 1
    return root


def val_files(root: Path, *, val_name: str = "val") -> list[Path]:
    """The validation images in the loaders' order: classes sorted, each one's images sorted by name."""
    split = root / val_name
    return [path for folder in sorted(p for p in split.iterdir() if p.is_dir()) for path in sorted(folder.iterdir())]


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `folder`: size, modification time and bytes (what must not change)."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            info = path.lstat()
            files[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, path.read_bytes())
    return files
