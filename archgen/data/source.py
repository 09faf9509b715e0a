"""Data source strings (`digits`, `cifar10:DIR`, `imagefolder:DIR`, `synthetic:3x32x32,classes=10`) parsed into values.

Knows the grammar of `--data`, not how any data set is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from archgen.errors import DataError

Kind = Literal["digits", "cifar10", "imagefolder", "synthetic"]
KINDS: tuple[Kind, ...] = ("digits", "cifar10", "imagefolder", "synthetic")
USAGE = "digits, cifar10:DIR, imagefolder:DIR or synthetic[:CxHxW][,classes=K][,train=N][,val=N]"

MAX_SYNTHETIC_IMAGES = 1_000_000
MAX_SYNTHETIC_BYTES = 8 * 2**30  # uint8 pixels held in memory


@dataclass(frozen=True)
class Synthetic:
    """Random images of one shape, each class drawn around its own template (so a net can learn them)."""

    channels: int = 3
    size: int = 32
    classes: int = 10
    train: int = 1024
    val: int = 256


@dataclass(frozen=True)
class DataSource:
    """A parsed `--data` value: its kind and, for folder kinds, the folder."""

    kind: Kind
    path: Path | None = None
    synthetic: Synthetic | None = None

    def __str__(self) -> str:
        """The `--data` text that parses back to this source."""
        if self.path is not None:
            return f"{self.kind}:{self.path}"
        if self.synthetic is not None:
            s = self.synthetic
            return f"synthetic:{s.channels}x{s.size}x{s.size},classes={s.classes},train={s.train},val={s.val}"
        return self.kind


def parse_source(text: str) -> DataSource:
    """`digits` | `cifar10:DIR` | `imagefolder:DIR` | `synthetic[:CxHxW][,classes=K][,train=N][,val=N]`."""
    kind, _, argument = text.strip().partition(":")
    if kind == "digits" and not argument:
        return DataSource("digits")
    folder_kinds: dict[str, Kind] = {"cifar10": "cifar10", "imagefolder": "imagefolder"}
    if kind in folder_kinds:
        if not argument:
            raise DataError(f"--data {kind}: needs a folder, as {kind}:DIR")
        return DataSource(folder_kinds[kind], path=Path(argument).expanduser())
    if kind == "synthetic":
        return DataSource("synthetic", synthetic=_parse_synthetic(argument))
    raise DataError(f"--data {text!r}: unknown data source; expected {USAGE}")


def _parse_synthetic(argument: str) -> Synthetic:
    values: dict[str, int] = {}
    for index, part in enumerate(filter(None, argument.split(","))):
        if index == 0 and "=" not in part:
            values.update(_shape(part))
            continue
        key, equals, number = part.partition("=")
        if not equals or key not in ("classes", "train", "val"):
            raise DataError(f"--data synthetic: {part!r} is not CxHxW, classes=K, train=N or val=N")
        values[key] = _positive(key, number)
    synthetic = Synthetic(**values)
    pixels = (synthetic.train + synthetic.val) * synthetic.channels * synthetic.size**2
    if synthetic.train + synthetic.val > MAX_SYNTHETIC_IMAGES or pixels > MAX_SYNTHETIC_BYTES:
        raise DataError(f"--data synthetic: {pixels:,} bytes of images is more than archgen holds in memory")
    if synthetic.classes < 2:
        raise DataError(f"--data synthetic: classes must be at least 2, got {synthetic.classes}")
    return synthetic


def _shape(text: str) -> dict[str, int]:
    parts = text.lower().split("x")
    if len(parts) != 3:
        raise DataError(f"--data synthetic: shape must be CxHxW (e.g. 3x32x32), got {text!r}")
    channels, height, width = (_positive("shape", part) for part in parts)
    if height != width:
        raise DataError(f"--data synthetic: images must be square, got {height}x{width}")
    if channels > 64 or height > 4096:
        raise DataError(f"--data synthetic: shape {text!r} is larger than archgen makes (at most 64x4096x4096)")
    return {"channels": channels, "size": height}


def _positive(name: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise DataError(f"--data synthetic: {name} must be a positive integer, got {text!r}")
    return int(text)
