"""Tar shards in webdataset's layout (`KEY.jpg` beside `KEY.cls`, the class index as text): brace patterns expanded,
every shard's headers read once into a catalog of where each image lies, so any sample can be read at its offset.

A shard that is truncated, not a tar, or holds a sample without its image or class is refused in one line before
training starts; so is one whose headers claim more than a header holds (tarfile would read a pax or GNU long-name
header into one buffer) or whose image member claims more than an image file can hold (`decode.max_image_bytes`).
A shard is opened without blocking (a FIFO in its place is refused, never waited on). Plain `tarfile`, no
webdataset package: its URL opener runs `pipe:` commands and fetches URLs, and its shuffle buffers are not
resumable. Knows nothing of decoding beyond that size, nor of loaders.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import stat
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

import numpy as np

from archgen.data.catalog import Catalog, Names
from archgen.data.decode import check_length
from archgen.data.folder import EXTENSIONS
from archgen.errors import DataError, printable
from archgen.spec.schema import MAX_CLASSES

MAX_SHARDS = 100_000  # names one pattern may expand to (ImageNet is ~1,300 shards of 1,000 images)
MAX_LABEL_BYTES = 32  # a `.cls` member holds a decimal integer
MAX_READ_BYTES = 2**20  # the most tarfile reads at once: a header block, or a pax or GNU long-name header's records
END_BLOCKS = 1024  # a tar ends with two zero blocks of 512 bytes: without them it was cut at a member boundary
IMAGE_SUFFIXES = {extension.lstrip(".") for extension in EXTENSIONS}
_GROUP = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")


def expand(pattern: str) -> list[str]:
    """Bash's braces: `{000..099}` (zero-padded to the widest bound written) and `{a,b}`, each group in turn.

    Refused in one line when the pattern would name more than MAX_SHARDS files (counted before expanding)."""
    pieces: list[list[str]] = []
    at = 0
    for group in _GROUP.finditer(pattern):
        pieces += [[pattern[at : group.start()]], _choices(group.group(1))]
        at = group.end()
    pieces.append([pattern[at:]])
    count = math.prod(len(choices) for choices in pieces)
    if count > MAX_SHARDS:
        raise DataError(f"wds:{printable(pattern)}: names {count:,} shards, more than archgen reads "
                        f"({MAX_SHARDS:,})")
    return ["".join(parts) for parts in itertools.product(*pieces)]


def _choices(inside: str) -> list[str]:
    bounds = _RANGE.match(inside)
    if bounds:
        first, last = bounds.groups()
        if abs(int(last) - int(first)) >= MAX_SHARDS:  # counted before a list is made
            raise DataError(f"{{{printable(inside)}}}: names {abs(int(last) - int(first)) + 1:,} shards, more than "
                            f"archgen reads ({MAX_SHARDS:,})")
        padded = any(len(bound.lstrip("-")) > 1 and bound.lstrip("-")[0] == "0" for bound in (first, last))
        width = max(len(first), len(last)) if padded else 0
        step = 1 if int(last) >= int(first) else -1
        return [f"{number:0{width}d}" for number in range(int(first), int(last) + step, step)]
    if "," in inside:
        return inside.split(",")
    return [f"{{{inside}}}"]  # bash leaves `{x}` as it is


@dataclass(frozen=True)
class Shard:
    """One shard's samples: where each image lies in it, its member name and its label."""

    offsets: list[int]
    lengths: list[int]
    members: list[bytes]
    labels: list[int]
    size: int


def shard_catalog(pattern: str, *, split: str) -> Catalog:
    """Every sample of the shards `pattern` names, in shard order and, within a shard, in stored order."""
    paths = expand(pattern)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        shards = list(pool.map(_scan, paths))  # the first broken shard in pattern order is the one raised
    if not sum(len(shard.labels) for shard in shards):
        raise DataError(f"wds:{printable(pattern)}: the {split} shards hold no samples (KEY.jpg with KEY.cls)")
    per_file = np.array([len(shard.labels) for shard in shards], dtype=np.int64)
    return Catalog(
        root=b"", files=Names([os.fsencode(path) for path in paths]),
        sizes=np.array([shard.size for shard in shards], dtype=np.int64),
        labels=np.array([label for shard in shards for label in shard.labels], dtype=np.int64),
        file=np.repeat(np.arange(len(shards), dtype=np.int32), per_file),
        offsets=np.array([offset for shard in shards for offset in shard.offsets], dtype=np.int64),
        lengths=np.array([length for shard in shards for length in shard.lengths], dtype=np.int64),
        members=Names([member for shard in shards for member in shard.members]), per_file=per_file,
    )


def _scan(path: str) -> Shard:
    """The shard's headers, read in order (the data skipped, except each `.cls` member's few bytes)."""
    shown = printable(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens without a writer
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            os.close(descriptor)
            raise DataError(f"{shown}: not a regular file (a folder, FIFO, socket or device named like a shard)")
        with os.fdopen(descriptor, "rb") as file:
            bounded = _BoundedReads(file, shown)
            with tarfile.open(fileobj=bounded, mode="r:") as tar:  # type: ignore[call-overload]  # read, seek, tell
                return _read(tar, file, shown, info.st_size)
    except FileNotFoundError:
        raise DataError(f"{shown}: no such shard") from None
    except (OSError, tarfile.TarError) as error:  # also a link loop, or a compressed or damaged header
        raise DataError(f"{shown}: not an uncompressed tar file archgen can read ({printable(str(error))})") from None


def _read(tar: tarfile.TarFile, file: BinaryIO, shown: str, size: int) -> Shard:
    shard = Shard([], [], [], [], size)
    key, image, label = None, None, None
    while (member := tar.next()) is not None:
        tar.members.clear()  # type: ignore[attr-defined]  # TarFile keeps every header: a million take a gigabyte
        if member.offset_data + member.size > size:
            raise DataError(f"{shown}: truncated: member {printable(member.name)} ends at byte "
                            f"{member.offset_data + member.size:,}, the file has {size:,}")
        stem, _, suffix = PurePosixPath(member.name).name.partition(".")
        suffix = suffix.lower()
        if suffix not in IMAGE_SUFFIXES and suffix != "cls":
            continue  # other fields of a sample (.json, .txt): not read
        if not member.isfile():
            raise DataError(f"{shown}: member {printable(member.name)} is not a regular file")
        if suffix != "cls":
            check_length(member.size, f"{shown}: member {printable(member.name)}")
        this = str(PurePosixPath(member.name).parent / stem)
        if this != key:
            _add(shard, shown, key, image, label)
            key, image, label = this, None, None
        if suffix == "cls":
            label = _label(file, member, shown)
        elif image is not None:
            raise DataError(f"{shown}: sample {printable(this)} has two images ({printable(image.name)}, "
                            f"{printable(member.name)})")
        else:
            image = member
    _check_end(file, tar.offset, shown, size)  # before the last sample: a cut shard says so, not "no class"
    _add(shard, shown, key, image, label)
    return shard


class _BoundedReads:
    """The shard as tarfile reads it, refusing any one read of more than MAX_READ_BYTES before it is made: a pax or
    GNU long-name header that claims gigabytes would otherwise be read into one buffer."""

    def __init__(self, file: BinaryIO, shown: str) -> None:
        self.file, self.shown = file, shown

    def read(self, size: int = -1) -> bytes:
        if not 0 <= size <= MAX_READ_BYTES:
            claimed = f"{size:,} bytes" if size >= 0 else "the rest of the file"
            raise DataError(f"{self.shown}: a header claims {claimed}, more than a tar header can hold (at most "
                            f"{MAX_READ_BYTES:,})")
        return self.file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()


def _add(shard: Shard, shown: str, key: str | None, image: tarfile.TarInfo | None, label: int | None) -> None:
    if key is None:
        return
    if image is None or label is None:
        missing = "image (KEY.jpg, .png, …)" if image is None else "class (KEY.cls)"
        raise DataError(f"{shown}: sample {printable(key)} has no {missing}")
    shard.offsets.append(image.offset_data)
    shard.lengths.append(image.size)
    shard.members.append(os.fsencode(image.name))
    shard.labels.append(label)


def _label(file: BinaryIO, member: tarfile.TarInfo, shown: str) -> int:
    where = f"{shown}: member {printable(member.name)}"
    if member.size > MAX_LABEL_BYTES:
        raise DataError(f"{where}: a class index is a decimal integer, got {member.size:,} bytes")
    file.seek(member.offset_data)  # tarfile seeks back to the next header itself
    text = file.read(member.size).strip()
    if not text.isdigit() or int(text) >= MAX_CLASSES:
        raise DataError(f"{where}: a class index is an integer in 0..{MAX_CLASSES - 1:,}, got "
                        f"'{printable(text.decode(errors='replace'))}'")
    return int(text)


def _check_end(file: BinaryIO, end: int, shown: str, size: int) -> None:
    """tarfile reads a shard cut between two members, or a damaged header after the first, as the archive's end:
    the two zero blocks that end a whole tar tell."""
    file.seek(end)
    if size - end < END_BLOCKS or file.read(END_BLOCKS).strip(b"\0"):
        raise DataError(f"{shown}: truncated or damaged: no end-of-archive blocks after byte {end:,} of {size:,}")
