"""Classifying image files with a trained net: each file prepared exactly as evaluation prepares an image of the
run's data, then the top classes with their names and probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from archgen.data.single import image_files
from archgen.errors import ArchgenError
from archgen.inference.loaded import TrainedNet
from archgen.training.preprocessing import MODES

BATCH = 32  # images per forward pass


@dataclass(frozen=True)
class Guess:
    """One class of an image's top K."""

    index: int
    name: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    image: Path
    top: tuple[Guess, ...]


@dataclass(frozen=True)
class Predictions:
    """Every image's top K, in the order the images were given (folders expanded, sorted)."""

    predictions: tuple[Prediction, ...]
    notes: tuple[str, ...] = ()


def predict(net: TrainedNet, images: Sequence[str | Path], *, top: int = 5) -> Predictions:
    """The `top` most probable classes of each image file (folders expand to the images under them, all listed
    before any is read); a file that cannot be read is refused with the loaders' one-line error."""
    if top < 1:
        raise ArchgenError(f"--top: must be at least 1, got {top}")
    files = image_files(Path(image) for image in images)
    k, predictions, converted = min(top, len(net.class_names)), [], []
    for first in range(0, len(files), BATCH):  # a batch at a time: memory bounded whatever the number of files
        batch = files[first : first + BATCH]
        prepared = [net.preprocess.prepared(path) for path in batch]
        converted += [item.channels for item in prepared if item.channels != net.record.channels]
        inputs = net.preprocess.normalised(torch.stack([item.pixels for item in prepared]))
        probabilities, indices = net.probabilities(inputs).topk(k, dim=1)
        for path, row, classes in zip(batch, probabilities.tolist(), indices.tolist(), strict=True):
            predictions.append(Prediction(path, tuple(Guess(index, net.class_names[index], probability)
                                                      for index, probability in zip(classes, row, strict=True))))
    return Predictions(tuple(predictions), net.notes + _conversion(converted, net.record.channels, len(files)))


def _conversion(converted: list[int], channels: int, count: int) -> tuple[str, ...]:
    """One note for every image converted to the network's channels (as the training loaders convert)."""
    if not converted:
        return ()
    kind = "grey" if set(converted) == {1} else "colour" if set(converted) == {3} else "grey or colour"
    into = MODES.get(channels, f"{channels} channels")
    return (f"{len(converted)} of {count} images {'is' if len(converted) == 1 else 'are'} {kind}; the network takes "
            f"{channels}-channel images: converted to {into} as the training loaders convert",)
