"""How much memory this process may still take, and the check every allocation sized by user input goes through.

Torch-free and import-light (data, pipeline and search all ask it). Reads Linux's /proc and cgroup files and
the address-space limit (`ulimit -v`); elsewhere it falls back to the free physical pages.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from archgen.errors import ArchgenError

GiB = 2**30
MEMINFO = Path("/proc/meminfo")
STATUS = Path("/proc/self/status")
CGROUP = Path("/sys/fs/cgroup")

CHUNK_BYTES = 128 * 2**20
"""Temporaries one step of a chunked pass over images may hold (resizing, statistics, generating): small beside any
data set worth chunking, large enough that torch's per-call overhead stays negligible."""

# How a failed allocation reads: torch's CPU allocator (a RuntimeError), and a thread whose stack cannot be mapped.
_ALLOCATION_FAILURES = ("can't allocate memory", "Cannot allocate memory", "can't start new thread")


class InsufficientMemory(ArchgenError):
    """An allocation sized by the user's input would not fit in the memory this process may still take."""


@dataclass(frozen=True)
class Headroom:
    """Bytes this process may still allocate, and which limit says so (for the message)."""

    bytes: int
    limit: str


def headroom() -> Headroom:
    """The tightest of: the machine's available memory, the cgroup's limit, and the address-space limit."""
    candidates = [_available_physical(), _cgroup_room(), _address_space_room()]
    found = [candidate for candidate in candidates if candidate is not None]
    return min(found, key=lambda room: room.bytes) if found else Headroom(2**62, "no known limit")


def require(needed: int, what: str) -> None:
    """Refuse, in one line with the estimate, an allocation of `needed` bytes that would not fit.

    `what` says what the memory is for, e.g. "decoding 20,000 images at 224x224".
    """
    room = headroom()
    if needed > room.bytes:
        raise InsufficientMemory(f"{what} needs about {size(needed)}, more than the {size(room.bytes)} this process "
                                 f"may still take ({room.limit})")


@contextlib.contextmanager
def allocating(needed: int, what: str) -> Iterator[None]:
    """`require(needed, what)`, then the block. Should an allocation in it fail anyway (another process took the
    memory meanwhile, or the estimate fell short), that too ends as one InsufficientMemory line, not a traceback."""
    require(needed, what)
    try:
        yield
    except MemoryError:
        raise _ran_out(needed, what) from None
    except RuntimeError as error:
        if not any(failure in str(error) for failure in _ALLOCATION_FAILURES):
            raise
        raise _ran_out(needed, what) from None


def rows_per_chunk(row_bytes: int, *, budget: int = CHUNK_BYTES) -> int:
    """How many rows of `row_bytes` temporaries each fit in `budget`; at least one, as a row is never split."""
    return max(1, budget // max(1, row_bytes))


def require_processes(count: int, each: int, what: str, *, mapped: int) -> None:
    """Refuse, in one line with the estimate, `count` new processes of about `each` resident bytes each, that map
    `mapped` bytes of address space each, when they would not fit.

    Processes share the machine's and the cgroup's memory, so `count x each` must fit in `room_for_processes()`;
    `ulimit -v` limits each process's own address space, so `mapped` must fit under it, whatever `count` is.
    """
    limit = address_space_limit()
    if limit is not None and mapped > limit:
        raise InsufficientMemory(f"{what}: each process maps about {size(mapped)} of address space, more than "
                                 f"ulimit -v {limit // 1024} allows one process")
    room = room_for_processes()
    if count * each > room.bytes:
        fits = room.bytes // each if each else count
        advice = f"at most {fits} would fit" if fits else "not even one would fit"
        raise InsufficientMemory(f"{what} need about {size(count * each)} ({count} x {size(each)}), more than the "
                                 f"{size(room.bytes)} left ({room.limit}); {advice}")


def room_for_processes() -> Headroom:
    """What new processes may hold together: the tighter of the machine's available memory and the cgroup's room.

    `ulimit -v` is not among them: it limits each process's address space alone (see `address_space_limit`).
    """
    found = [room for room in (_available_physical(), _cgroup_room()) if room is not None]
    return min(found, key=lambda room: room.bytes) if found else Headroom(2**62, "no known limit")


def address_space_limit() -> int | None:
    """`ulimit -v` in bytes (this process's, and that of every process it starts); None when unlimited."""
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if limit == resource.RLIM_INFINITY else limit


def size(count: int) -> str:
    """Bytes for people: `3.9 GiB`, `120 MiB`."""
    if count >= GiB:
        return f"{count / GiB:.1f} GiB"
    return f"{count / 2**20:.0f} MiB"


def _ran_out(needed: int, what: str) -> InsufficientMemory:
    room = headroom()
    return InsufficientMemory(f"{what} ran out of memory (estimated at about {size(needed)}; {size(room.bytes)} left, "
                              f"{room.limit})")


def _available_physical() -> Headroom | None:
    fields = _fields(MEMINFO)
    if "MemAvailable" in fields:
        return Headroom(fields["MemAvailable"], "the machine's available memory")
    try:
        return Headroom(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "the machine's free memory")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_room() -> Headroom | None:
    """What `ulimit -v` leaves: the limit less the virtual memory already mapped."""
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    mapped = _fields(STATUS).get("VmSize", 0)
    return Headroom(max(0, limit - mapped), f"ulimit -v {limit // 1024}")


def _cgroup_room() -> Headroom | None:
    """cgroup v2's memory.max less memory.current (a container's limit), when one is set."""
    try:
        limit = (CGROUP / "memory.max").read_text().strip()
        current = int((CGROUP / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
    if not limit.isdigit():
        return None  # "max": no limit
    return Headroom(max(0, int(limit) - current), "the cgroup's memory.max")


def _fields(path: Path) -> dict[str, int]:
    """`Name: 123 kB` lines as bytes (values without a unit are kept as they are)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isascii() and parts[0].isdigit():
            fields[name] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return fields
