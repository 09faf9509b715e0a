"""Data source strings (`digits`, `cifar10:DIR`, `imagefolder:DIR`, `stream:DIR`, `wds:TRAIN,val=VAL`,
`synthetic:3x32x32,classes=10`) parsed into values, and how many images a source holds in memory.

Knows the grammar of `--data`, not how any data set is read; imports no torch (the search's parent process and
`--help` read it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from archgen.errors import DataError, printable
from archgen.spec.schema import MAX_CLASSES

Kind = Literal["digits", "cifar10", "imagefolder", "stream", "wds", "synthetic"]
KINDS: tuple[Kind, ...] = ("digits", "cifar10", "imagefolder", "stream", "wds", "synthetic")
USAGE = ("digits, cifar10:DIR, imagefolder:DIR (in memory; streamed from disk when it would pass 8 GiB), "
         "stream:DIR (an image folder always streamed), wds:TRAIN,val=VAL (tar shards, brace patterns such as "
         "shards/train-{000000..000099}.tar) or synthetic[:CxHxW][,classes=K][,train=N][,val=N]")
VAL_KEY = ",val="  # wds:TRAIN,val=VAL: the last one splits (a brace list may hold commas, never ',val=')

MAX_SYNTHETIC_IMAGES = 1_000_000
MAX_SYNTHETIC_BYTES = 8 * 2**30  # uint8 pixels held in memory
MAX_SYNTHETIC_CHANNELS, MAX_SYNTHETIC_SIZE = 64, 4096
MAX_DIGITS = 18  # a number longer than this is refused as too large before int() reads it
HELD = {"digits": (1_797, 1), "cifar10": (60_000, 3)}  # (images, channels): scikit-learn's; 50,000 + 10,000
MAX_COUNTED = 10**6  # files counted in an image folder before the count stops (an estimate needs no more)


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
    """A parsed `--data` value: its kind and, for folder kinds, the folder (for wds: the training shards' pattern,
    and `val` the validation shards')."""

    kind: Kind
    path: Path | None = None
    synthetic: Synthetic | None = None
    val: Path | None = None

    def __str__(self) -> str:
        """The `--data` text that parses back to this source."""
        if self.val is not None:
            return f"{self.kind}:{self.path}{VAL_KEY}{self.val}"
        if self.path is not None:
            return f"{self.kind}:{self.path}"
        if self.synthetic is not None:
            s = self.synthetic
            return f"synthetic:{s.channels}x{s.size}x{s.size},classes={s.classes},train={s.train},val={s.val}"
        return self.kind

    def resolved(self) -> DataSource:
        """The same source with absolute paths (a run folder's spec then trains from anywhere)."""
        if self.path is None:
            return self
        return DataSource(self.kind, path=self.path.resolve(), val=self.val.resolve() if self.val else None)


def parse_source(text: str) -> DataSource:
    """`digits` | `cifar10:DIR` | `imagefolder:DIR` | `stream:DIR` | `wds:TRAIN,val=VAL` |
    `synthetic[:CxHxW][,classes=K][,train=N][,val=N]`.

    Any text either parses or raises one DataError line, with what came from the user escaped.
    """
    kind, _, argument = text.strip().partition(":")
    if kind == "digits" and not argument:
        return DataSource("digits")
    folder_kinds: dict[str, Kind] = {"cifar10": "cifar10", "imagefolder": "imagefolder", "stream": "stream"}
    if kind == "wds":
        return _shards(argument)
    if kind in folder_kinds:
        if not argument:
            raise DataError(f"--data {kind}: needs a folder, as {kind}:DIR")
        return DataSource(folder_kinds[kind], path=_folder(kind, argument))
    if kind == "synthetic":
        return DataSource("synthetic", synthetic=_parse_synthetic(argument))
    raise DataError(f"--data '{printable(text)}': unknown data source; expected {USAGE}")


def _folder(kind: str, argument: str) -> Path:
    where = f"--data {kind}:{printable(argument)}"
    if "\0" in argument:  # no file system names one; os calls would raise ValueError on it
        raise DataError(f"{where}: a folder name cannot hold a NUL character")
    try:
        return Path(argument).expanduser()
    except RuntimeError as error:  # `~` with no home directory to expand it to
        raise DataError(f"{where}: cannot expand its '~' ({printable(str(error))})") from None


def _shards(argument: str) -> DataSource:
    """`wds:TRAIN,val=VAL`: both patterns are needed (a validation split is what every epoch reports)."""
    train, found, val = argument.rpartition(VAL_KEY)
    if not found or not train or not val:
        raise DataError(f"--data wds:{printable(argument)}: needs the training and the validation shards, as "
                        "wds:TRAIN,val=VAL (e.g. wds:s/train-{000000..000099}.tar,val=s/val-{000000..000004}.tar)")
    return DataSource("wds", path=_folder("wds", train), val=_folder("wds", val))


def _parse_synthetic(argument: str) -> Synthetic:
    """Every limit is checked here, before the generator allocates anything."""
    values: dict[str, int] = {}
    for index, part in enumerate(filter(None, argument.split(","))):
        if index == 0 and "=" not in part:
            values.update(_shape(part))
            continue
        key, equals, number = part.partition("=")
        if not equals or key not in ("classes", "train", "val"):
            raise DataError(f"--data synthetic: '{printable(part)}' is not CxHxW, classes=K, train=N or val=N")
        values[key] = _positive(key, number)
    synthetic = Synthetic(**values)
    count = synthetic.train + synthetic.val
    pixels = count * synthetic.channels * synthetic.size**2
    if count > MAX_SYNTHETIC_IMAGES or pixels > MAX_SYNTHETIC_BYTES:
        raise DataError(f"--data synthetic: {count:,} images of {pixels:,} bytes is more than archgen holds in memory "
                        f"(at most {MAX_SYNTHETIC_IMAGES:,} images, {MAX_SYNTHETIC_BYTES // 2**30} GiB)")
    if not 2 <= synthetic.classes <= MAX_CLASSES:
        raise DataError(f"--data synthetic: classes must be at least 2 and at most {MAX_CLASSES:,} (what a spec "
                        f"classifies), got {synthetic.classes:,}")
    return synthetic


def _shape(text: str) -> dict[str, int]:
    parts = text.lower().split("x")
    if len(parts) != 3:
        raise DataError(f"--data synthetic: shape must be CxHxW (e.g. 3x32x32), got '{printable(text)}'")
    channels, height, width = (_positive("shape", part) for part in parts)
    if height != width:
        raise DataError(f"--data synthetic: images must be square, got {height}x{width}")
    if channels > MAX_SYNTHETIC_CHANNELS or height > MAX_SYNTHETIC_SIZE:
        raise DataError(f"--data synthetic: shape '{printable(text)}' is larger than archgen makes "
                        f"(at most {MAX_SYNTHETIC_CHANNELS}x{MAX_SYNTHETIC_SIZE}x{MAX_SYNTHETIC_SIZE})")
    return {"channels": channels, "size": height}


def _positive(name: str, text: str) -> int:
    """ASCII digits only: str.isdigit() also takes '²' and '３', which int() then reads or rejects at will."""
    digits = text.lstrip("0")
    if not text or not text.isascii() or not text.isdigit() or not digits:
        raise DataError(f"--data synthetic: {name} must be a positive integer, got '{printable(text)}'")
    if len(digits) > MAX_DIGITS:
        raise DataError(f"--data synthetic: {name} has {len(digits):,} digits, far more than archgen makes")
    return int(digits)


def held_images(source: DataSource) -> tuple[int, int]:
    """(images a run of `source` holds in memory at most, their channels), without decoding anything: known for
    digits and CIFAR-10, written in a synthetic source, the files of an image folder counted (up to MAX_COUNTED,
    taken as RGB); streamed sources (`stream:`, `wds:`) hold none."""
    if source.kind in HELD:
        return HELD[source.kind]
    if source.kind == "synthetic":
        shape = source.synthetic or Synthetic()
        return shape.train + shape.val, shape.channels
    if source.kind == "imagefolder":
        assert source.path is not None
        return _count_files(source.path), 3
    return 0, 3


def _count_files(folder: Path) -> int:
    """Files under `folder`, counting stopped past MAX_COUNTED; 0 for a folder that is not there."""
    count = 0
    for _, _, files in os.walk(folder):
        count += len(files)
        if count >= MAX_COUNTED:
            return MAX_COUNTED
    return count
