"""Catalogs: every sample of one split as where its bytes lie (file, offset, length) and its label, in numpy arrays.

What a streamed source knows about its data without decoding any of it. Arrays rather than Python objects, so that
forked data workers share them: a list of a million paths would be copied into every worker page by page as its
reference counts change (1.28 M samples take about 60 MB here). Knows nothing of image formats or tar files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from archgen.errors import printable

SHOWN_DIGEST = 16  # hex digits of the files' sha256 a record shows


class Names:
    """Byte strings packed into one buffer: `names[i]` is the i-th."""

    def __init__(self, names: Sequence[bytes]) -> None:
        lengths = np.fromiter((len(name) for name in names), dtype=np.int64, count=len(names))
        self.ends = np.cumsum(lengths)
        self.blob = np.frombuffer(b"".join(names), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: int) -> bytes:
        start = int(self.ends[index - 1]) if index else 0
        return self.blob[start : int(self.ends[index])].tobytes()


@dataclass(frozen=True)
class Location:
    """Where one sample's bytes lie, and its name for messages (escaped)."""

    path: bytes
    offset: int
    length: int
    file_size: int
    """The size of the whole file when it was listed (a file of another size has changed since)."""
    shown: str


@dataclass(frozen=True, eq=False)
class Catalog:
    """The samples of one split: sample i lies in file `file[i]` (or file i, for image folders) at `offsets[i]`
    (or 0), `lengths[i]` bytes long, of class `labels[i]`."""

    root: bytes
    """The folder the file names are relative to (b"" when they are absolute)."""
    files: Names
    sizes: np.ndarray
    """(files,) int64: each file's size in bytes when it was listed."""
    labels: np.ndarray
    """(N,) int64."""
    file: np.ndarray | None = None
    """(N,) int32 file index of each sample; None: sample i is the whole of file i."""
    offsets: np.ndarray | None = None
    lengths: np.ndarray | None = None
    members: Names | None = None
    """Each sample's name inside its file (tar members), for messages."""
    per_file: np.ndarray | None = None
    """(files,) int64 samples in each file (tar shards), in file order: what shard orders are made of."""

    def __len__(self) -> int:
        return len(self.labels)

    def locate(self, index: int) -> Location:
        if self.file is None:
            path = self._path(index)
            size = int(self.sizes[index])
            return Location(path, 0, size, size, printable(os.fsdecode(path)))
        assert self.offsets is not None and self.lengths is not None and self.members is not None
        file = int(self.file[index])
        path = self._path(file)
        shown = f"{printable(os.fsdecode(path))}: member {printable(os.fsdecode(self.members[index]))}"
        return Location(path, int(self.offsets[index]), int(self.lengths[index]), int(self.sizes[file]), shown)

    def fingerprint(self) -> str:
        """The files' names (relative to their folder) and sizes, hashed: what a resume checks is unchanged."""
        digest = hashlib.sha256()
        for index in range(len(self.files)):
            digest.update(os.path.basename(self.files[index]) if not self.root else self.files[index])
            digest.update(b"\0%d\n" % int(self.sizes[index]))
        return (f"{len(self.files):,} files, {int(self.sizes.sum()):,} bytes, sha256 "
                f"{digest.hexdigest()[:SHOWN_DIGEST]}")

    def _path(self, file: int) -> bytes:
        name = self.files[file]
        return os.path.join(self.root, name) if self.root else name


def sample(count: int, cap: int, *, seed: int) -> list[int]:
    """`cap` distinct indices below `count` (all when fewer), sorted, fixed by `seed`: which samples stand for
    the whole set where reading it all would cost a pass over the data (channel statistics, header checks)."""
    if count <= cap:
        return list(range(count))
    return sorted(np.random.default_rng(seed).choice(count, size=cap, replace=False).tolist())
