"""A run's preprocessing record: everything that turns a raw image into the network's input (channels, sizes, crops,
mean and std, class names), written once when the run starts (preprocessing.json, and a copy in the metadata of
weights.safetensors) and read back, checked, by whatever uses the trained net. Torch-free: it knows the record's
fields and files, nothing of decoding or tensors.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from archgen.errors import RunError, printable
from archgen.files import open_bounded
from archgen.spec.schema import MAX_CHANNELS, MAX_CLASSES, MAX_SIZE
from archgen.training.record import WEIGHTS_LIMIT

if TYPE_CHECKING:
    from archgen.data import ImageData, StreamedData
    from archgen.spec.schema import NetSpec

PREPROCESSING = "preprocessing.json"
METADATA_KEY = "archgen.preprocessing"  # in weights.safetensors' metadata, ONNX metadata_props, export extra files
FORMAT = 1
MAX_RECORD_BYTES = 16 * 2**20  # 100,000 class names fit many times over
MODES = {1: "L", 3: "RGB"}  # PIL's mode for image files read at a channel count (as the training loaders convert)

Size = Annotated[int, Strict(), Field(ge=1, le=MAX_SIZE)]
Statistic = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Spread = Annotated[float, Strict(), Field(gt=0.0, le=1.0)]


class Preprocessing(BaseModel):
    """How a raw image becomes the network's input, exactly as the run's validation loader makes it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)

    format: Literal[1] = 1
    """The record's format (FORMAT)."""
    source: Annotated[str, Strict(), Field(max_length=4096)]
    """The data the run trained on (its `--data`)."""
    loader: Literal["held", "streamed"]
    """held: images decoded by PIL into memory, each fitted to held_size on loading; streamed: decoded as read
    (JPEGs by libjpeg-turbo through torchvision, other formats by PIL) at their own size."""
    channels: Annotated[int, Strict(), Field(ge=1, le=MAX_CHANNELS)]
    """Channels the network takes; image files are converted to them as the loaders convert (mode L or RGB)."""
    held_size: Size | None
    """held: the square size images were held at (an image of another size is resized on its shorter side with
    PIL's bilinear filter and centre-cropped to it, as an image folder of mixed sizes is); None when streamed."""
    size: Size
    """The network's input size: held images are resized to it (torch, antialiased bilinear) when held_size
    differs; streamed images are resized (shorter side) and cropped to it."""
    resize: Size
    """The shorter side before the validation crop(s) (the recipe's eval_resize, else size)."""
    crop: Literal["center", "ten"]
    """center: one size x size crop from the middle; ten: the 4 corners and the centre, and their mirror images,
    whose softmax outputs are averaged."""
    mean: tuple[Statistic, ...]
    """Per channel, on the 0..1 scale: subtracted after dividing the uint8 values by 255."""
    std: tuple[Spread, ...]
    """Per channel, on the 0..1 scale: divided by after subtracting the mean."""
    statistics: Annotated[str, Strict(), Field(max_length=256)]
    """Where mean and std come from."""
    class_names: tuple[Annotated[str, Strict(), Field(max_length=4096)], ...] = Field(min_length=2,
                                                                                    max_length=MAX_CLASSES)
    """The classes in label order: output i of the network is class_names[i]."""

    @model_validator(mode="after")
    def _consistent(self) -> Preprocessing:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean and std need one value per channel ({self.channels}), got {len(self.mean)} "
                             f"and {len(self.std)}")
        if (self.loader == "held") != (self.held_size is not None):
            raise ValueError(f"held_size is the held images' size: given for loader 'held' only, got "
                             f"{self.held_size} for loader {self.loader!r}")
        if self.resize < self.size:
            raise ValueError(f"resize ({self.resize}) must be at least size ({self.size})")
        return self

    @property
    def mode(self) -> str | None:
        """The PIL mode image files are converted to ("L", "RGB"), or None: the network takes another channel count."""
        return MODES.get(self.channels)

    @property
    def crops(self) -> int:
        return 10 if self.crop == "ten" else 1

    def steps(self) -> tuple[str, ...]:
        """The rule, step by step, in words (written into the record and the exports, for readers outside archgen)."""
        read = ("decoded by PIL" if self.loader == "held" else
                "decoded (JPEGs by libjpeg-turbo through torchvision, other formats by PIL)")
        steps = [f"{read}, 16-bit greys scaled to 8 bits, converted to {self.mode or f'{self.channels} channels'}"]
        if self.held_size is not None:
            steps.append(f"unless {self.held_size}x{self.held_size}: shorter side resized to {self.held_size} "
                         "(PIL bilinear) and centre-cropped to it")
            if self.held_size != self.size:
                steps.append(f"resized to {self.size}x{self.size} (torch, antialiased bilinear, rounded to uint8)")
        if self.resize != self.size or self.held_size is None:
            steps.append(f"shorter side resized to {self.resize} (torchvision, antialiased bilinear)")
        if self.crop == "ten":
            steps.append(f"ten {self.size}x{self.size} crops: the 4 corners and the centre, and their mirror images "
                         "(the network's softmax outputs averaged)")
        elif self.resize != self.size or self.held_size is None:
            steps.append(f"the centre {self.size}x{self.size} crop")
        steps.append("x / 255, less mean, over std, per channel")
        return tuple(steps)

    def document(self) -> dict[str, Any]:
        """The record as JSON data, with the sha256 of its fields (a hand edit that does not update it is found)."""
        fields = self.model_dump(mode="json")
        return {**fields, "steps": list(self.steps()), "sha256": _digest(fields)}

    def dumps(self) -> str:
        return json.dumps(self.document(), indent=1) + "\n"


def _digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def parse(text: str | bytes, shown: str, *, sealed: bool = True) -> Preprocessing:
    """A record from its JSON, or one RunError line naming `shown` and the field. sealed: its sha256 must match
    (a run's own record); a record a user writes by hand may leave the sha256 and the steps out."""
    try:
        data = json.loads(text)
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RunError(f"{shown}: not a preprocessing record ({printable(str(error))})") from None
    if not isinstance(data, dict):
        raise RunError(f"{shown}: not a preprocessing record (a JSON object)")
    digest, _ = data.pop("sha256", None), data.pop("steps", None)
    try:
        record = Preprocessing.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(map(str, problem["loc"])) or "record"
        raise RunError(f"{shown}: {where}: {printable(problem['msg'])} (got {printable(repr(problem['input']))[:80]})"
                       ) from None
    if sealed and digest != _digest(record.model_dump(mode="json")):
        raise RunError(f"{shown}: edited after the run wrote it (its sha256 no longer matches its fields); restore "
                       f"it, or pass the values you mean as a file of your own: --preprocessing FILE")
    return record


def read_record(path: Path, *, sealed: bool = True) -> Preprocessing:
    """preprocessing.json (or a user's file of the same form) read and checked."""
    shown = printable(str(path))
    try:
        with open(path, "rb") as file:
            text = file.read(MAX_RECORD_BYTES + 1)
    except OSError as error:
        raise RunError(f"cannot read {shown}: {printable(error.strerror or str(error))}") from None
    if len(text) > MAX_RECORD_BYTES:
        raise RunError(f"{shown}: more than {MAX_RECORD_BYTES:,} bytes, not a preprocessing record")
    return parse(text, shown, sealed=sealed)


def weights_record(weights: Path) -> Preprocessing | None:
    """The copy in a safetensors file's metadata (None where it has none), read from the header alone."""
    metadata = safetensors_metadata(weights)
    if METADATA_KEY not in metadata:
        return None
    return parse(metadata[METADATA_KEY], f"{printable(str(weights))} (metadata {METADATA_KEY})")


def safetensors_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's `__metadata__` (its header is an 8-byte little-endian length, then JSON)."""
    shown = printable(str(path))
    try:
        with open_bounded(path, WEIGHTS_LIMIT) as file:
            length = int.from_bytes(file.read(8), "little")
            if length > MAX_RECORD_BYTES * 8:  # a pickle's first bytes read as a length: gigabytes
                raise RunError(f"{shown} is not a safetensors file (its header would be {length:,} bytes, more than "
                               f"{MAX_RECORD_BYTES * 8:,})")
            header = json.loads(file.read(length))
    except OSError as error:
        raise RunError(f"cannot read {shown}: {printable(error.strerror or str(error))}") from None
    except ValueError:
        raise RunError(f"{shown}: not a safetensors file (its header is not JSON)") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}


def recorded(spec: NetSpec, data: ImageData | StreamedData, *, mean: tuple[float, ...],
             std: tuple[float, ...]) -> Preprocessing:
    """The record of a run that trains `spec` (fitted) on `data` (at the size it trains on), normalised by
    `mean` and `std` (its loaders')."""
    from archgen.data import StreamedData  # the caller trains: torch is loaded already

    streamed = isinstance(data, StreamedData)
    held = None if streamed else data.native_size or data.size  # the size the images were decoded at
    statistics = (f"a fixed sample of up to 512 of the {len(data.train):,} streamed training images" if streamed
                  else f"the {len(data.train):,} training images")
    recipe = spec.train
    return Preprocessing(source=data.source, loader="streamed" if streamed else "held", channels=data.channels,
                         held_size=held, size=spec.input.size, resize=recipe.eval_resize or spec.input.size,
                         crop=recipe.eval_crop, mean=tuple(mean), std=tuple(std), statistics=statistics,
                         class_names=tuple(data.class_names))
