"""Tar shards in webdataset's layout (`KEY.jpg` + `KEY.cls`) written from an image folder, for the streamed tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path


def write_shards(folder: Path, out: Path, *, split: str, per_shard: int, extra: bool = False) -> str:
    """Every image of `folder/<split>/<class>/` in its in-memory order (classes sorted, names sorted), `per_shard` to
    a tar `out/<split>-NNNNNN.tar`; returns the brace pattern naming them. `extra`: a `.txt` member per sample too."""
    classes = sorted(entry.name for entry in (folder / "train").iterdir() if entry.is_dir())
    images = [(path, label) for label, name in enumerate(classes)
              for path in sorted((folder / split / name).iterdir())]
    out.mkdir(parents=True, exist_ok=True)
    shards = [images[first : first + per_shard] for first in range(0, len(images), per_shard)]
    for number, shard in enumerate(shards):
        with tarfile.open(out / f"{split}-{number:06d}.tar", "w") as tar:
            for index, (path, label) in enumerate(shard):
                key = f"{number:06d}{index:04d}"
                add(tar, f"{key}{path.suffix}", path.read_bytes())
                if extra:
                    add(tar, f"{key}.txt", b"a caption")
                add(tar, f"{key}.cls", str(label).encode())
    return str(out / f"{split}-{{000000..{len(shards) - 1:06d}}}.tar")


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
