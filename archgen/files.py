"""Files others may have made or planted: read within the most their kind can hold, written crash-safe, never
through a link, FIFO or file another user put at a name archgen uses.

Reading takes regular files only, opened without blocking (a FIFO or a device is refused, never waited on), their
size checked against their kind's `Limit` from fstat before a byte is read and again while reading (a file that
grows); a zip's records are checked by the sizes its directory declares before anything inflates them. Writing goes
through a temporary file created exclusively (O_EXCL|O_NOFOLLOW, a name nobody can guess), fsync, rename, fsync of
the folder: a reader sees the old file or the new one, never half of one. A file that exists and was not written by
this invocation is replaced only when the caller says so (`--force`): the check and the write are one atomic step
(a hard link, which fails if the name exists). OS errors are named with the path and errno. Torch-free; knows
nothing of what the bytes are.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import secrets
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from archgen.errors import ArchgenError, RunError, printable

GROWTH_CHUNK = 2**20  # a file that grows while read is read on in pieces of this size, up to its limit
ATTEMPTS = 100  # temporary names tried before a write gives up (each taken name is refused, never opened)


class OutputExists(ArchgenError):
    """The file a command would write exists, and the command was not told to replace it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{printable(str(path))} exists; pass --force to replace it")
        self.path = path


# --- reading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """The most bytes one kind of file can legitimately hold, stated where the kind is defined, and the kind in
    words with the reason, for the refusal: `Limit(51_200_000, "a run's metrics.jsonl (100,000 epochs of 512-byte
    lines)")` refuses `runs/a/metrics.jsonl: 60,000,000 bytes, more than a run's metrics.jsonl (…) can hold (at
    most 51,200,000)`."""

    most: int
    kind: str

    def refusal(self, shown: str, size: int, *, what: str = "") -> str:
        """The one-line refusal of a file of `size` bytes (`what` says what they are, when not the file's size)."""
        return f"{shown}: {what}{size:,} bytes, more than {self.kind} can hold (at most {self.most:,})"

    def growth(self, shown: str) -> str:
        """A file that grew past the limit while it was read (its size from fstat was within it)."""
        return f"{shown}: grew past {self.most:,} bytes while being read, more than {self.kind} can hold"


def read_bounded(path: Path, limit: Limit) -> bytes:
    """The bytes of `path`, a regular file of at most `limit.most` bytes; anything else is a RunError naming the
    file (missing, not a regular file, too large before or while reading, an OS error, no memory for it)."""
    data = _read(path, limit, missing_ok=False)
    assert data is not None
    return data


def open_bounded(path: Path, limit: Limit) -> io.BufferedReader:
    """`path` opened for reading, to read part of (a header): a regular file of at most `limit.most` bytes, never a
    FIFO waited on; anything else is a RunError naming the file."""
    opened = _open(path, limit, missing_ok=False)
    assert opened is not None
    return opened[0]


def read_if_present(path: Path, limit: Limit) -> bytes | None:
    """`read_bounded`, or None when nothing is at `path` (a record a run has not written yet)."""
    return _read(path, limit, missing_ok=True)


def check_zip(data: bytes, shown: str, limit: Limit) -> None:
    """Refuse a zip archive (torch's checkpoints are zips) whose records would inflate past `limit`: the sizes its
    central directory declares, which are what a reader allocates, are added up before anything is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            declared = sum(record.file_size for record in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise RunError(f"{shown}: a damaged zip archive ({printable(str(error))})") from None
    if declared > limit.most:
        raise RunError(limit.refusal(shown, declared, what="its zip records would inflate to ") + "; refused "
                       "before inflating any")


def sha256_of(path: Path, limit: Limit) -> str:
    """The sha256 of `path`, a regular file of at most `limit.most` bytes, read in pieces (never held whole)."""
    opened = _open(path, limit, missing_ok=False)
    assert opened is not None
    file, shown = opened[0], printable(str(path))
    digest, total = hashlib.sha256(), 0
    with file:
        try:
            while piece := file.read(GROWTH_CHUNK):
                digest.update(piece)
                total += len(piece)
                if total > limit.most:
                    raise RunError(limit.growth(shown))
        except OSError as error:
            raise RunError(f"cannot read {shown}: {describe(error)}") from None
    return digest.hexdigest()


def _read(path: Path, limit: Limit, *, missing_ok: bool) -> bytes | None:
    opened = _open(path, limit, missing_ok=missing_ok)
    if opened is None:
        return None
    (file, size), shown = opened, printable(str(path))
    with file:
        try:
            return _read_within(file, size, limit, shown)
        except OSError as error:
            raise RunError(f"cannot read {shown}: {describe(error)}") from None
        except MemoryError:
            raise RunError(f"cannot read {shown}: its {size:,} bytes do not fit in the memory left") from None


def _open(path: Path, limit: Limit, *, missing_ok: bool) -> tuple[io.BufferedReader, int] | None:
    """`path` opened for reading, and its size: a regular file within `limit` (else a RunError naming it)."""
    shown = printable(str(path))
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens without a writer
    except FileNotFoundError as error:
        if missing_ok:
            return None
        raise RunError(f"cannot read {shown}: {describe(error)}") from None
    except OSError as error:  # a link loop, no permission
        raise RunError(f"cannot read {shown}: {describe(error)}") from None
    except ValueError:  # a NUL in the path: Python refuses it before asking the system
        raise RunError(f"cannot read {shown}: the path holds a NUL character") from None
    status = os.fstat(descriptor)
    problem = None
    if not stat.S_ISREG(status.st_mode):
        problem = f"{shown}: not a regular file (a folder, FIFO, socket or device)"
    elif status.st_size > limit.most:
        problem = limit.refusal(shown, status.st_size)
    if problem is not None:
        os.close(descriptor)
        raise RunError(problem)
    return os.fdopen(descriptor, "rb"), status.st_size


def _read_within(file: io.BufferedReader, size: int, limit: Limit, shown: str) -> bytes:
    """`size` bytes in one buffer (no copy), then, should the file have grown since fstat, on up to the limit."""
    data = file.read(size + 1)
    if len(data) <= size:
        return data  # as big as fstat said, or smaller: it shrank meanwhile, and this is what it holds
    pieces, total = [data], len(data)
    while total <= limit.most and (piece := file.read(min(GROWTH_CHUNK, limit.most + 1 - total))):
        pieces.append(piece)
        total += len(piece)
    if total > limit.most:
        raise RunError(limit.growth(shown))
    return b"".join(pieces)


# --- writing ---------------------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write `data` to `path` atomically (the data reach the disk before the name does).

    replace=False refuses an existing `path` with OutputExists, and nothing is written. The temporary file beside
    `path` is a new file of a random name: whatever another user planted there (a link, a FIFO) is never opened.
    """
    temporary: Path | None = None
    try:
        temporary, file = _temporary(path)
        with file:  # an open file: a full disk is an OSError, not torch's zip-writer text
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        place(temporary, path, replace=replace)
        fsync_folder(path.parent)
    except OSError as error:
        raise RunError(f"cannot write {printable(str(path))}: {describe(error)}") from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _temporary(path: Path) -> tuple[Path, io.BufferedWriter]:
    """A new, empty file beside `path`, created exclusively: a name taken by anything (a planted link or FIFO, a
    leftover) is passed over for another, never opened."""
    for _ in range(ATTEMPTS):
        temporary = path.with_name(f".{path.name}.{secrets.randbelow(10**12):012d}.tmp")
        try:
            return temporary, open(temporary, "wb", opener=_exclusive)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"{ATTEMPTS} temporary names beside it were all taken", str(path))


def _exclusive(name: str, flags: int) -> int:
    """open()'s opener: create the file, failing if anything holds its name (a link is not followed)."""
    return os.open(name, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)


def place(staged: Path, path: Path, *, replace: bool) -> None:
    """Move the finished file `staged` to `path` (same folder); without `replace`, only where no file is.

    The name is taken with a hard link, which fails if it exists: no window for another writer in between.
    """
    if replace:
        os.replace(staged, path)  # a link or FIFO at `path` is itself replaced, never followed
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


def open_lock(path: Path) -> int:
    """A descriptor of the lock file `path` (created if missing) to flock: a regular file, never a planted link
    (O_NOFOLLOW) nor a FIFO (opened without blocking, then refused); OSError otherwise."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise OSError(errno.ELOOP, "a link holds the lock's name (never followed)", str(path)) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device holds the lock's name)", str(path))
    return descriptor


def open_append(path: Path, *, follow: bool) -> io.BufferedWriter:
    """`path` opened to append to (created if missing): a regular file, never a FIFO (opened without blocking, then
    refused); a link at the name is followed only when `follow` (a file the user named, not one archgen places
    beside it). OSError otherwise."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        descriptor = os.open(path, flags, 0o666)
    except OSError as error:
        if error.errno != errno.ENXIO:  # ENXIO: a FIFO without a reader, which a blocking open would wait for
            raise
        raise OSError(errno.EINVAL, "not a regular file (a FIFO holds its name)", str(path)) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device holds its name)", str(path))
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "ab")


# --- folders ---------------------------------------------------------------------------------------------------


def ensure_folder(path: Path, *, parents: bool = False) -> None:
    """`path` as a folder to write into: made now, or already a real folder. Anything else at the name (a link,
    even to a folder; a file; a FIFO) is an OSError, and never followed. Its parent must exist, unless `parents`
    (then the folders above are made as `mkdir -p` does: the caller's, links among them followed)."""
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir()  # exclusive: fails on anything at the name, a link included
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise OSError(errno.ENOTDIR, "not a folder (a link, file or FIFO holds its name)", str(path)) from None


def fresh_folder(path: Path) -> None:
    """An empty folder made now at `path`, after clearing what a killed process left there (never following a
    link); should anything take the name in between, the OSError says so."""
    clear(path)
    path.mkdir()  # exclusive: fails on anything at the name, a link included


def clear(path: Path) -> None:
    """Remove whatever is at `path`: a folder with everything in it (links inside are removed, never followed),
    or a file, link or FIFO itself."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
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
