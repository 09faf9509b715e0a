"""Writing files: crash-safe (temporary file, fsync, rename, fsync of the folder), never replacing what isn't ours.

A reader sees the old file or the new one, never half of one, whenever the process dies. A file that exists
and was not written by this invocation is replaced only when the caller says so (`--force`): the check and
the write are one atomic step (a hard link, which fails if the name exists), so nothing slips in between.
OS errors are named with the path and errno. Torch-free; knows nothing of what the bytes are.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from archgen.errors import ArchgenError, RunError, printable


class OutputExists(ArchgenError):
    """The file a command would write exists, and the command was not told to replace it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{printable(str(path))} exists; pass --force to replace it")
        self.path = path


def write_atomic(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write `data` to `path` atomically (the data reach the disk before the name does).

    replace=False refuses an existing `path` with OutputExists, and nothing is written.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:  # an open file: a full disk is an OSError, not torch's zip-writer text
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        place(temporary, path, replace=replace)
        fsync_folder(path.parent)
    except OSError as error:
        raise RunError(f"cannot write {printable(str(path))}: {describe(error)}") from None
    finally:
        temporary.unlink(missing_ok=True)


def place(staged: Path, path: Path, *, replace: bool) -> None:
    """Move the finished file `staged` to `path` (same folder); without `replace`, only where no file is.

    The name is taken with a hard link, which fails if it exists: no window for another writer in between.
    """
    if replace:
        os.replace(staged, path)
        return
    try:
        os.link(staged, path)
    except FileExistsError:
        raise OutputExists(path) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(path):  # a file system without hard links: check, then rename
            raise OutputExists(path) from None
        os.replace(staged, path)
        return
    os.unlink(staged)


def refuse_existing(path: Path, *, force: bool) -> None:
    """Fail early, before any work, when `path` exists and may not be replaced (the write checks again)."""
    if not force and os.path.lexists(path):
        raise OutputExists(path)


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
