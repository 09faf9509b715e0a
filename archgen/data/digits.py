"""scikit-learn's bundled 8x8 handwritten digits: 1,797 images, 10 classes, a fixed stratified split.

The embedded default: it needs no files. Knows nothing of loaders or training.
"""

from __future__ import annotations

import numpy as np
import torch

from archgen.data.images import ImageData, Split

VAL_FRACTION = 0.2
SPLIT_SEED = 0  # the split is part of the data set, the same for every run and seed


def load_digits_data() -> ImageData:
    """1,437 training and 360 validation images, (N, 1, 8, 8) uint8 (the 0..16 levels scaled to 0..255)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = np.rint(digits.images * (255 / 16)).astype(np.uint8)[:, None]  # (1797, 1, 8, 8)
    train_x, val_x, train_y, val_y = train_test_split(
        pixels, digits.target, test_size=VAL_FRACTION, random_state=SPLIT_SEED, stratify=digits.target
    )
    return ImageData(
        source="digits",
        train=Split(torch.from_numpy(train_x), torch.from_numpy(train_y).long()),
        val=Split(torch.from_numpy(val_x), torch.from_numpy(val_y).long()),
        class_names=tuple(str(label) for label in range(10)),
        mirror=False,  # a mirrored 2 is no longer a 2
    )
