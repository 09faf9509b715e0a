"""CIFAR-10 from the python batches a user already has (the files torchvision's `CIFAR10(download=False)` reads).

Read with a restricted unpickler: the batches are pickles, and a planted one must not run code.
Knows nothing of loaders or training.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archgen.data.images import ImageData, Split
from archgen.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_FILE = "test_batch"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# What a CIFAR batch pickle may reference: numpy's array reconstruction, and bytes from python 3 pickles.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays")
        return super().find_class(module, name)


def load_cifar10_data(root: Path) -> ImageData:
    """50,000 training and 10,000 test images, (N, 3, 32, 32) uint8, from `root` or `root/cifar-10-batches-py`."""
    folder = _batches_folder(root)
    train = [_read_batch(folder / name) for name in TRAIN_FILES]
    return ImageData(
        source=f"cifar10:{root}",
        train=Split(torch.cat([images for images, _ in train]), torch.cat([labels for _, labels in train])),
        val=Split(*_read_batch(folder / TEST_FILE)),
        class_names=CLASS_NAMES,
    )


def _batches_folder(root: Path) -> Path:
    expected = f"the CIFAR-10 python batches ({', '.join(TRAIN_FILES)}, {TEST_FILE}) in {root / FOLDER} or {root}"
    if not root.is_dir():
        raise DataError(f"cifar10:{root}: no such folder; expected {expected}")
    folder = root / FOLDER if (root / FOLDER).is_dir() else root
    missing = [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]
    if not missing:
        return folder
    raise DataError(f"cifar10:{root}: expected {expected}; missing {', '.join(missing)}")


def _read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        with path.open("rb") as file:
            batch = _BatchUnpickler(file, encoding="latin1").load()
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(error).__name__}: {error})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (data.shape[0],):
        raise DataError(
            f"{path}: expected 'data' of shape (N, 3072) and N 'labels', got {data.shape} and {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise DataError(f"{path}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())  # rows are R, G, B planes of 32x32
    return images, torch.from_numpy(labels)
