"""Small data sets on disk for the data tests: CIFAR-10 python batches and image folders."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def write_cifar_batches(root: Path, *, per_batch: int = 4, seed: int = 0) -> Path:
    """`root/cifar-10-batches-py/` with 5 training batches and a test batch of `per_batch` random images each."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "batch_label": name,
            "data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, size=per_batch).tolist(),
            "filenames": [f"{name}_{i}.png" for i in range(per_batch)],
        }
        with open(folder / name, "wb") as file:
            pickle.dump(batch, file, protocol=2)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                     "truck"]}, file, protocol=2)
    return folder


def write_image_folder(
    root: Path, *, classes: tuple[str, ...] = ("cat", "dog", "emu"), per_class: int = 3, size: int = 12,
    mode: str = "RGB", suffix: str = ".png", val_name: str = "val",
) -> Path:
    """`root/train/<class>/` and `root/<val_name>/<class>/` of small solid-ish images, a class per colour."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), (val_name, max(1, per_class // 2))):
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for number in range(count):
                channels = 1 if mode == "L" else 3
                pixels = rng.integers(0, 40, size=(size, size, channels), dtype=np.uint8) + 60 * index
                image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)
                image.save(folder / f"{number:03d}{suffix}")
    return root
