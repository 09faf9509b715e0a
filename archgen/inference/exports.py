"""A trained net exported with its preprocessing: the record written into the file (`archgen.export`'s metadata,
under `archgen.preprocessing`) and, with `with_preprocessing`, the normalisation inside the graph, so the file
takes uint8 images (resizing and cropping stay outside, as the record's steps say).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from archgen.data.views import Normalise
from archgen.errors import RunError, printable
from archgen.export import ExportFormat, ExportResult, export_model
from archgen.spec.schema import NetSpec
from archgen.training.preprocessing import METADATA_KEY, PREPROCESSING, Preprocessing, read_record, weights_record
from archgen.training.trained import load_trained


class Normalised(nn.Module):
    """uint8 images (B, C, S, S) in, the network's outputs out: x / 255, less mean, over std, with the loaders' own
    float32 constants (`archgen.data.views.Normalise`), then the network."""

    scale: Tensor
    shift: Tensor

    def __init__(self, network: nn.Module, record: Preprocessing) -> None:
        super().__init__()
        normalise = Normalise.of(record.mean, record.std, torch.device("cpu"))
        self.network = network
        self.register_buffer("scale", normalise.scale)  # (1, C, 1, 1)
        self.register_buffer("shift", normalise.shift)

    def forward(self, images: Tensor) -> Tensor:
        return self.network(images.float() * self.scale + self.shift)


@dataclass(frozen=True)
class TrainedExport:
    result: ExportResult
    record: Preprocessing | None
    """The preprocessing the file carries (None: the weights came without one)."""


def export_trained(spec: NetSpec, weights: Path, *, format: ExportFormat, out: Path, with_preprocessing: bool = False,
                   replace: bool = False) -> TrainedExport:
    """`spec` with `weights` (a run's weights.safetensors) written to `out`, carrying the run's preprocessing record
    (from the weights' metadata, else the preprocessing.json beside them)."""
    record = find_record(weights)
    if with_preprocessing and record is None:
        raise RunError(f"{printable(str(weights))}: no preprocessing record (in its metadata or a {PREPROCESSING} "
                       "beside it), so none can go inside the graph; export without --with-preprocessing")
    model = load_trained(spec, weights)
    network: nn.Module = Normalised(model, record) if with_preprocessing and record is not None else model
    metadata = {METADATA_KEY: record.dumps()} if record is not None else {}
    shape = (1, spec.input.channels, spec.input.size, spec.input.size)
    result = export_model(network, format=format, out=out, input_shape=shape, replace=replace, metadata=metadata,
                          uint8_input=with_preprocessing)
    return TrainedExport(result, record)


def find_record(weights: Path) -> Preprocessing | None:
    """The record in the weights' metadata, else preprocessing.json beside them, else None."""
    copy = weights_record(weights) if weights.is_file() else None
    beside = weights.parent / PREPROCESSING
    if copy is None and os.path.lexists(beside):
        return read_record(beside)
    return copy
