"""What a spec becomes before it trains: the run's recipe overrides applied (`with_recipe`), then its input fitted
to its data: channels and classes come from the data; the size is kept or the images resized.

The rule (documented in `archgen train --help` and the README): the network runs at the data's own
image size whenever its strides allow (it is convolutional up to global pooling); otherwise the
images are resized (antialiased) to the spec's `input.size`. Either way a note says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from archgen.analysis import SPEC_CHECKS
from archgen.data import ImageData, StreamedData, parse_source
from archgen.errors import DataError, Problem, SpecError, printable
from archgen.spec import rules
from archgen.spec.messages import rule_message
from archgen.spec.schema import RANDOM_INIT, Input, NetSpec, Train


def with_recipe(spec: NetSpec, **overrides: Any) -> NetSpec:
    """`spec` with the given `[train]` values replaced (None: keep), validated as the spec file would be."""
    values = {key: value for key, value in overrides.items() if value is not None}
    values["data"] = _absolute(values.get("data", spec.train.data))  # the run folder's spec works from anywhere
    init = values.get("init", spec.train.init)
    if init != RANDOM_INIT:
        values["init"] = str(Path(init).expanduser().absolute())
    try:
        recipe = Train.model_validate({**spec.train.model_dump(), **values})
    except ValidationError as error:
        raise SpecError([Problem(None, rule_message(e, at=("train",)), field="train." + ".".join(map(str, e["loc"])))
                         for e in error.errors()]) from None
    return spec.model_copy(update={"train": recipe})


def _absolute(data: str) -> str:
    """Folder sources with absolute paths, so the run folder's spec retrains from anywhere."""
    return str(parse_source(data).resolved())


@dataclass(frozen=True)
class Fitted:
    """The spec as it will train, the data at the size it will train on, and what was changed."""

    spec: NetSpec
    data: ImageData | StreamedData
    notes: tuple[str, ...] = ()


def fit_to_data(spec: NetSpec, data: ImageData | StreamedData) -> Fitted:
    """`spec` fitted to `data` (resized if its strides need it: refused in one line if the copies would not fit;
    streamed data are decoded at the spec's size as they are read)."""
    wanted, source = spec.input, printable(data.source)  # the source names the user's folder: shown escaped
    notes = []
    if isinstance(data, StreamedData):
        notes.append(f"streaming {source} from disk ({printable(data.why)}): each image decoded as it is read, "
                     f"resized (shorter side) and centre-cropped to {data.size}x{data.size}")
    if (data.channels, data.classes) != (wanted.channels, wanted.classes):
        notes.append(
            f"{source} has {data.channels}-channel images of {data.classes} classes: the network's input and "
            f"classifier follow the data (the spec says {wanted.channels} channel{'s' * (wanted.channels != 1)}, "
            f"{wanted.classes} classes)"
        )
    candidate = _with_input(spec, _input(data))
    if data.size != wanted.size:
        if not rules.check(candidate):
            notes.append(f"training at the data's {data.size}x{data.size} (the spec says {wanted.size}x{wanted.size}): "
                         "the network is convolutional up to its global pooling")
        else:
            notes.append(f"resizing {source}'s {data.size}x{data.size} images to the spec's "
                         f"{wanted.size}x{wanted.size}: the network's strides need larger inputs")
            data = data.resized(wanted.size)
            candidate = _with_input(spec, _input(data))
    elif data.native_size is not None:
        notes.append(f"{source}: images of several sizes, resized to {data.size}x{data.size}")
    violations = [*rules.check(candidate), *(v for check in SPEC_CHECKS for v in check(candidate))]
    if violations:
        raise SpecError([Problem(None, f"{message} (fitted to {source})", field=".".join(map(str, loc)))
                         for loc, message in violations])
    return Fitted(candidate, data, tuple(notes))


def _input(data: ImageData | StreamedData) -> Input:
    """The [input] table the data call for, or a DataError if no spec could say it."""
    try:
        return Input(channels=data.channels, size=data.size, classes=data.classes)
    except ValidationError as error:
        problem = error.errors()[0]
        raise DataError(f"{printable(data.source)}: {problem['loc'][0]} = {problem['input']} is more than a spec "
                        f"allows ({rule_message(problem, at=('input',), got=False)})") from None


def _with_input(spec: NetSpec, shape: Input) -> NetSpec:
    if shape == spec.input:
        return spec
    # a network on other inputs no longer reproduces the published one
    return spec.model_copy(update={"input": shape, "reference": None})
