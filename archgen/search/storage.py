"""Where a study lives: a journal file (one machine) or an RDB URL (SQLite, PostgreSQL); its claim lock; the journal
file hardened (a torn last record cut off before the next append, damage one line).

The claim lock serialises "count, then create a trial" across every worker of a study: an fcntl lock beside a local
file, a PostgreSQL advisory lock across machines. Knows nothing of specs or training.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from archgen.errors import SearchError, first_line, printable, redact_url, redacted
from archgen.search.optuna_internals import AttributeCheck, GuardedJournal
from archgen.search.record import attribute_problem

JOURNAL_NAME = "journal.log"
TORN_SUFFIX = ".torn"  # cut-off half records are kept beside the journal, never silently destroyed
_TAIL_CHUNK = 1 << 16

# A stale trial is retried this many times (then its point is given up): a crash that repeats is the point's fault.
MAX_RETRY = 2
SCHEMA_ATTEMPTS = 4  # opening a new RDB storage, when other workers create its tables at the same moment
CONNECT_TIMEOUT = 10  # seconds a PostgreSQL connection may take (unless the URL sets connect_timeout=)

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# archgen drives RDB heartbeats itself around its own ask/tell loop (search.liveness), not inside optimize()
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


@dataclass(frozen=True)
class StorageSpec:
    """A study's storage as the user named it: a journal file, or an RDB URL."""

    url: str | None  # None: the journal file
    journal: Path | None
    heartbeat_interval: int = 5
    grace_period: int = 20

    @property
    def kind(self) -> str:
        if self.journal is not None:
            return "journal"
        assert self.url is not None
        return (
            "postgresql" if self.url.startswith("postgresql") else "sqlite" if self.url.startswith("sqlite") else "rdb"
        )

    @property
    def label(self) -> str:
        """What to show a person: the URL with every secret hidden (errors.redact_url), on one printable line."""
        return printable(redact_url(str(self.journal) if self.journal is not None else str(self.url)))

    def quote(self, error: BaseException) -> str:
        """The first line of a library's error about this storage, with this URL's secrets hidden."""
        return redacted(first_line(error), url=self.url)


def storage_spec(
    storage: str | None, *, folder: Path, heartbeat_interval: int = 5, grace_period: int = 20
) -> StorageSpec:
    """`--storage` as given: None is the journal file in `folder`; a URL must be sqlite:// or postgresql://.

    Anything with `://` is a URL (never a journal file named `….log`, which would show its password as a path).
    """
    if storage is None:
        return StorageSpec(None, folder / JOURNAL_NAME, heartbeat_interval, grace_period)
    if storage.startswith("journal:") or ("://" not in storage and storage.endswith(".log")):
        return StorageSpec(None, Path(storage.removeprefix("journal:")), heartbeat_interval, grace_period)
    if not storage.startswith(("sqlite:///", "postgresql://", "postgresql+")):
        raise SearchError(
            f"--storage must be sqlite:///FILE, postgresql://USER@HOST/DB or a journal file (*.log), "
            f"got '{printable(redact_url(storage))}'"
        )
    if storage.startswith("sqlite:///:memory:"):
        raise SearchError("--storage sqlite:///:memory: would vanish with the process; name a file")
    return StorageSpec(storage, None, heartbeat_interval, grace_period)


def open_storage(spec: StorageSpec) -> BaseStorage:
    """The Optuna storage; RDB storages get heartbeats, and stale trials are retried (Optuna's callback)."""
    if spec.journal is not None:
        try:
            spec.journal.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SearchError(f"cannot create the study folder {printable(str(spec.journal.parent))}: "
                              f"{error.strerror}") from None
        return open_journal(spec.journal, check=attribute_problem)  # archgen reads its attributes as it wrote them
    assert spec.url is not None
    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            return RDBStorage(
                spec.url,
                engine_kwargs=_engine_kwargs(spec.url),
                heartbeat_interval=spec.heartbeat_interval,
                grace_period=spec.grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
            )
        except Exception as error:  # sqlalchemy raises many kinds; all mean "cannot open this URL"
            if attempt < SCHEMA_ATTEMPTS and _lost_schema_race(error):
                time.sleep(0.2 * attempt)
                continue
            raise SearchError(f"cannot open the storage {spec.label}: {spec.quote(error)}") from None
    raise AssertionError("unreachable")


@contextlib.contextmanager
def storage_errors(spec: StorageSpec) -> Iterator[None]:
    """Within the block, a storage library's error (the server went away, the database is locked, the disk is
    full) is one SearchError line naming the storage, its secrets hidden, instead of a page of traceback."""
    import sqlalchemy.exc

    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
        raise SearchError(f"the study storage {spec.label} failed: {spec.quote(error)}") from None


def _lost_schema_race(error: Exception) -> bool:
    """Two workers creating a new database's tables at once: the loser's insert or CREATE collides; a retry finds
    the tables and version rows made (Optuna's RDBStorage creates them without a lock)."""
    import sqlalchemy.exc

    if isinstance(error, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.ProgrammingError):
        return True
    return isinstance(error, sqlalchemy.exc.OperationalError) and "already exists" in str(error)


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # SQLite locks the whole file; wait for the lock instead of failing with "database is locked".
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True, "connect_args": _connect_args(url)}


def _connect_args(url: str) -> dict[str, Any]:
    """libpq gives up on an unreachable or silent server only after the OS's TCP timeout (minutes): bound it."""
    return {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT}


# --- the journal file ------------------------------------------------------------------------------------


class JournalFile(JournalFileBackend):
    """A JournalFileBackend that repairs a torn tail under the append lock and turns damage into SearchError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # JournalFileOpenLock (an O_EXCL lock file) is safe for several processes on one machine.
            self.lock = JournalFileOpenLock(str(path))
            super().__init__(str(path), lock_obj=self.lock)
        except OSError as error:
            raise SearchError(f"cannot create the study journal {printable(str(path))}: {error.strerror}") from None

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        line = log_number_from  # the records read so far: a bad line is the one after them
        try:
            for log in super().read_logs(log_number_from):
                line += 1
                if not isinstance(log, dict) or not isinstance(log.get("op_code"), int):
                    raise damaged(self.path, ValueError(f"a record is not an Optuna journal operation: "
                                                        f"{str(log)[:40]!r}"), line=line)
                yield log
        except OSError as error:
            raise SearchError(f"cannot read the study journal {printable(str(self.path))}: {error.strerror}") from None
        except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError, nesting too deep,
            raise damaged(self.path, error, line=line + 1) from None  # Optuna's "Invalid log format."

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        try:
            self.lock.acquire()  # the lock Optuna's own append takes: the writer of a torn tail is dead
            try:
                cut_torn_tail(self.path)
                _append(self.path, logs)  # as Optuna's append_logs, under the same hold of the lock
            finally:
                self.lock.release()
        except OSError as error:
            raise SearchError(f"cannot write the study journal {printable(str(self.path))}: {error.strerror}") from None
        except ValueError as error:
            raise damaged(self.path, error) from None


def _append(path: Path, logs: list[dict[str, Any]]) -> None:
    text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
    with path.open("ab") as file:
        file.write(text.encode("utf-8"))
        file.flush()
        os.fsync(file.fileno())


def open_journal(path: Path, *, check: AttributeCheck | None = None) -> BaseStorage:
    """The journal storage at `path` (created if missing); a file that is not a journal, or a record Optuna cannot
    apply (or whose trial attributes `check` refuses), is one SearchError naming the file and line, now or on any
    later read (see `optuna_internals.GuardedJournal`)."""
    return GuardedJournal(JournalFile(path), check=check,
                          damage=lambda problem, line: damaged(path, problem, line=line))


def damaged(path: Path, problem: BaseException | str, *, line: int | None = None) -> SearchError:
    """The one line for a journal archgen cannot read: the file, the line, what is wrong, what to do."""
    if isinstance(problem, BaseException):
        problem = f"{type(problem).__name__}: {first_line(problem)}"
    where = "" if line is None else f"line {line}: "
    return SearchError(f"the study journal {printable(str(path))} is damaged or not an Optuna journal "
                       f"({where}{printable(problem)}); move it away to start a new study")


def cut_torn_tail(path: Path) -> int:
    """Cut an unterminated last line (a write torn by a kill or a full disk) off `path`; the bytes cut.

    Call holding the journal's lock. The cut bytes are appended to `<path>.torn` first. A last line that does
    not start as a record does is damage, not a torn write: ValueError, and nothing is cut.
    """
    with path.open("r+b") as file:
        size = file.seek(0, os.SEEK_END)
        if size == 0 or _byte_at(file, size - 1) == b"\n":
            return 0
        keep = _last_newline_end(file, size)
        file.seek(keep)
        torn = file.read()
        if not torn.startswith(b"{"):  # every record starts so; a kill tears its end, never its start
            raise ValueError(f"its last line is no record torn by a kill: {torn[:20]!r}")
        with path.with_name(path.name + TORN_SUFFIX).open("ab") as kept:
            kept.write(torn + b"\n")
            kept.flush()
            os.fsync(kept.fileno())
        file.truncate(keep)
        file.flush()
        os.fsync(file.fileno())
        return len(torn)


def _byte_at(file: Any, offset: int) -> bytes:
    file.seek(offset)
    return bytes(file.read(1))


def _last_newline_end(file: Any, size: int) -> int:
    """The offset just after the last b"\\n" in the file (0 if none)."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        file.seek(start)
        found = file.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


# --- the claim lock --------------------------------------------------------------------------------


@contextlib.contextmanager
def claim_lock(spec: StorageSpec, study_name: str) -> Iterator[None]:
    """Hold the study's claim lock: one worker at a time counts trials and creates the next one.

    Released by the OS (fcntl) or the server (advisory lock, on disconnect) if the holder is killed.
    """
    if spec.kind == "postgresql":
        with _advisory_lock(spec, study_name):
            yield
        return
    with _file_lock(_lock_path(spec, study_name)):
        yield


def _lock_path(spec: StorageSpec, study_name: str) -> Path:
    if spec.journal is not None:
        return spec.journal.with_name(f"{spec.journal.name}.claim-{_key(study_name):x}.lock")
    assert spec.url is not None
    database = Path(spec.url.split(":///", 1)[1].split("?", 1)[0])
    return database.with_name(f"{database.name}.claim-{_key(study_name):x}.lock")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        handle = path.open("a")
    except OSError as error:
        raise SearchError(f"cannot create the study's claim lock {path}: {error.strerror}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_ENGINES: dict[str, Any] = {}


@contextlib.contextmanager
def _advisory_lock(spec: StorageSpec, study_name: str) -> Iterator[None]:
    import sqlalchemy

    assert spec.url is not None
    engine = _ENGINES.get(spec.url)
    if engine is None:
        engine = _ENGINES[spec.url] = sqlalchemy.create_engine(
            spec.url, pool_pre_ping=True, pool_size=1, connect_args=_connect_args(spec.url)
        )
    key = _key(study_name) & 0x7FFF_FFFF_FFFF_FFFF  # a signed bigint
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def _key(study_name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"archgen-claim:{study_name}".encode()).digest()[:8], "big")
