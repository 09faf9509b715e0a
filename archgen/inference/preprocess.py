"""A run's preprocessing as a callable: an image file, a PIL image or a uint8 tensor in, the network's input out,
made exactly as the run's validation loader makes it (`archgen.data.single`) and normalised by the recorded mean
and std with the loaders' own `Normalise`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from archgen.data.single import Preparation, Prepared
from archgen.data.views import Normalise, Views
from archgen.training.preprocessing import Preprocessing

CPU = torch.device("cpu")

Picture = Image.Image | Tensor | Path | str
"""What `Preprocess` takes: a PIL image, a (C, H, W) uint8 tensor, or an image file's path."""


class Preprocess:
    """`preprocess(image)`: (C, S, S) float32, or (10, C, S, S) for a run evaluated on ten crops; `pixels(image)`
    the same before normalisation, as uint8 (what an export made `--with-preprocessing` takes)."""

    def __init__(self, record: Preprocessing) -> None:
        self.record = record
        views = Views(record.size, eval_resize=record.resize, ten_crop=record.crop == "ten")
        self.preparation = Preparation(record.channels, record.held_size, views)
        self.normalise = Normalise.of(record.mean, record.std, CPU)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.record.class_names

    def __call__(self, image: Picture) -> Tensor:
        return self.normalised(self.prepared(image).pixels)

    def pixels(self, image: Picture) -> Tensor:
        return self.prepared(image).pixels

    def prepared(self, image: Picture) -> Prepared:
        """The uint8 input and the channels the image had (to tell when it was converted)."""
        if isinstance(image, Image.Image):
            return self.preparation.image(image)
        if isinstance(image, Tensor):
            return self.preparation.tensor(image)
        return self.preparation.file(Path(image))

    def normalised(self, pixels: Tensor) -> Tensor:
        """uint8 (C, S, S) or (10, C, S, S), or a batch of them, as float32: x / 255, less mean, over std."""
        single = pixels.dim() == (4 if self.record.crop == "ten" else 3)
        batch = pixels[None] if single else pixels
        normalised = self.normalise(batch.cpu())
        return normalised[0] if single else normalised

    def __repr__(self) -> str:
        return f"Preprocess({'; '.join(self.record.steps())})"
