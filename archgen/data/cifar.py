"""CIFAR-10 from the python batches a user already has (the files torchvision's `CIFAR10(download=False)` reads).

Read with a restricted unpickler: the batches are pickles, and a planted one must not run code, nor take more
memory than was checked before (their operations are counted, none run, before any is loaded). Knows nothing of
loaders or training.
"""

from __future__ import annotations

import errno
import os
import pickle
import pickletools
import stat
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from archgen.data.images import ImageData, Split, files_fingerprint
from archgen.errors import DataError, printable
from archgen.memory import allocating, size

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_FILE = "test_batch"
MAX_BATCH_BYTES = 2**30  # a batch file of CIFAR-10 is 30 MB
MAX_BATCH_OPERATIONS = 1_000_000  # and holds about 30,000 pickle operations
OBJECT_BYTES = 128  # the most one operation other than a payload makes: an int, a list, an append, a memo entry
PAYLOAD_COPIES = 3  # a payload is read as text, encoded back to bytes, and copied into its array
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
    costs = [_cost(folder / name) for name in (*TRAIN_FILES, TEST_FILE)]
    payloads = sum(payload for payload, _ in costs)
    needed = 2 * payloads + max(PAYLOAD_COPIES * payload + transient for payload, transient in costs)  # kept twice
    with allocating(needed, f"cifar10:{printable(str(root))}: reading the batches ({size(payloads)} of arrays)"):
        train = [_read_batch(folder / name) for name in TRAIN_FILES]
        images = torch.cat([images for images, _ in train])
        labels = torch.cat([labels for _, labels in train])
        val = Split(*_read_batch(folder / TEST_FILE))
    if not len(labels):
        raise DataError(f"cifar10:{printable(str(root))}: the training batches hold no images")
    return ImageData(source=f"cifar10:{root}", train=Split(images, labels), val=val, class_names=CLASS_NAMES,
                     files=files_fingerprint([folder / name for name in (*TRAIN_FILES, TEST_FILE)], folder))


def _batches_folder(root: Path) -> Path:
    shown = printable(str(root))
    expected = (f"the CIFAR-10 python batches ({', '.join(TRAIN_FILES)}, {TEST_FILE}) in "
                f"{printable(str(root / FOLDER))} or {shown}")
    if not root.is_dir():
        raise DataError(f"cifar10:{shown}: no such folder; expected {expected}")
    folder = root / FOLDER if (root / FOLDER).is_dir() else root
    missing = [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]
    if not missing:
        return folder
    raise DataError(f"cifar10:{shown}: expected {expected}; missing {', '.join(missing)}")


def _cost(path: Path) -> tuple[int, int]:
    """(bytes of payloads, bytes of other objects) unpickling `path` makes, from its operations, none of them run."""
    shown = printable(str(path))
    try:
        payload = operations = 0
        with _open_batch(path) as file:
            if os.fstat(file.fileno()).st_size > MAX_BATCH_BYTES:
                raise DataError(f"{shown}: not a CIFAR-10 python batch ({size(os.fstat(file.fileno()).st_size)}; a "
                                "batch is 30 MB)")
            for _, argument, _ in pickletools.genops(file):
                operations += 1
                payload += len(argument) if isinstance(argument, str | bytes) else 0
                if operations > MAX_BATCH_OPERATIONS:
                    raise DataError(f"{shown}: not a CIFAR-10 python batch (more than {MAX_BATCH_OPERATIONS:,} "
                                    "pickle operations; a batch has about 30,000)")
    except (OSError, ValueError) as error:
        raise DataError(f"{shown}: not a CIFAR-10 python batch ({type(error).__name__}: "
                        f"{printable(str(error))})") from None
    return payload, operations * OBJECT_BYTES


def _open_batch(path: Path) -> BinaryIO:
    """A batch file opened without blocking and checked to be a regular file by what was opened, so a FIFO put at
    its name after the listing is refused, never waited on (OSError)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(errno.EINVAL, "not a regular file")
    return os.fdopen(descriptor, "rb")


def _read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    shown = printable(str(path))
    try:
        with _open_batch(path) as file:
            batch = _BatchUnpickler(file, encoding="latin1").load()
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError,
            OverflowError) as error:
        raise DataError(f"{shown}: not a CIFAR-10 python batch ({type(error).__name__}: "
                        f"{printable(str(error))})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (data.shape[0],):
        raise DataError(
            f"{shown}: expected 'data' of shape (N, 3072) and N 'labels', got {data.shape} and {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise DataError(f"{shown}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())  # rows are R, G, B planes of 32x32
    return images, torch.from_numpy(labels)
