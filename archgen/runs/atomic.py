"""Crash-safe file writes: temporary file, fsync, rename, fsync of the folder; OS errors named with path and errno.

A reader sees the old file or the new one, never half of one, whenever the process dies.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from archgen.errors import RunError


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (the data reach the disk before the name does)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:  # an open file: a full disk is an OSError, not torch's zip-writer text
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        fsync_folder(path.parent)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise RunError(f"cannot write {path}: {describe(error)}") from None


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def describe(error: OSError) -> str:
    """`No space left on device (errno 28, ENOSPC)`."""
    if error.errno is None:
        return str(error)
    name = errno.errorcode.get(error.errno, "?")
    return f"{error.strerror or os.strerror(error.errno)} (errno {error.errno}, {name})"
