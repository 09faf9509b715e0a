"""Where a study lives: a journal file (one machine, hardened in `journal`) or an RDB URL (SQLite, PostgreSQL), as
`--storage` names it (a file in a folder that exists, a database by name); and the study's claim lock.

The claim lock serialises "count, then create a trial" across every worker of a study: an fcntl lock beside a local
file, a PostgreSQL advisory lock across machines. Knows nothing of specs or training.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback

from archgen.errors import SearchError, first_line, printable, redact_url, redacted
from archgen.files import describe, open_lock
from archgen.search.journal import open_journal
from archgen.search.record import attribute_problem

JOURNAL_NAME = "journal.log"

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
    default: bool = False
    """The journal in archgen's own study folder (runs/<study>/), which opening creates; a folder the user named
    never is."""

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

    Anything with `://` is a URL (never a journal file named `….log`, which would show its password as a path). A
    storage must name its file (or database): an empty path, or a folder, is refused, and so is a file in a folder
    that does not exist (archgen creates no folder the user named, as `build --export --out` does not).
    """
    if storage is None:
        return StorageSpec(None, folder / JOURNAL_NAME, heartbeat_interval, grace_period, default=True)
    if storage.startswith("journal:") or ("://" not in storage and storage.endswith(".log")):
        path = storage.removeprefix("journal:")
        _require_file(storage, path, Path(path))
        return StorageSpec(None, Path(path), heartbeat_interval, grace_period)
    if not storage.startswith(("sqlite:///", "postgresql://", "postgresql+")):
        raise SearchError(
            f"--storage must be sqlite:///FILE, postgresql://USER@HOST/DB or a journal file (*.log), "
            f"got '{printable(redact_url(storage))}'"
        )
    if storage.startswith("sqlite:///:memory:"):
        raise SearchError("--storage sqlite:///:memory: would vanish with the process; name a file")
    database = _database(storage)
    if storage.startswith("sqlite"):
        _require_file(storage, database, Path(database))
    elif not database and "dbname=" not in storage:  # libpq would pick a database; archgen asks for it by name
        raise SearchError(f"--storage '{printable(redact_url(storage))}' names no database; name one, as "
                          "postgresql://USER@HOST/DB")
    return StorageSpec(storage, None, heartbeat_interval, grace_period)


def _database(url: str) -> str:
    """The database a URL names, as SQLAlchemy reads it (an SQLite file's path, a PostgreSQL database's name)."""
    import sqlalchemy.engine
    import sqlalchemy.exc

    try:
        return sqlalchemy.engine.make_url(url).database or ""
    except (sqlalchemy.exc.ArgumentError, ValueError) as error:
        reason = redacted(first_line(error), url=url)
        raise SearchError(f"--storage '{printable(redact_url(url))}' is not a URL: {reason}") from None


def _require_file(storage: str, named: str, path: Path) -> None:
    """Refuse a storage file the user named that is no file name (empty, a folder) or sits in a folder that does
    not exist."""
    shown = printable(redact_url(storage))
    if not path.name or path.name in (".", "..") or named.endswith("/") or path.is_dir():
        raise SearchError(f"--storage '{shown}' names no file (its path is empty or a folder); name one, as "
                          "DIR/journal.log or sqlite:///DIR/study.db")
    if not path.parent.is_dir():
        raise SearchError(f"--storage '{shown}': folder {printable(str(path.parent))} does not exist")


def open_storage(spec: StorageSpec) -> BaseStorage:
    """The Optuna storage; RDB storages get heartbeats, and stale trials are retried (Optuna's callback)."""
    if spec.journal is not None:
        if spec.default:  # archgen's own runs/<study>/; a folder the user named was checked by storage_spec
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
    database = Path(_database(spec.url))
    return database.with_name(f"{database.name}.claim-{_key(study_name):x}.lock")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        descriptor = open_lock(path)  # never through a planted link, never waiting on a FIFO
    except OSError as error:
        raise SearchError(f"cannot create the study's claim lock {printable(str(path))}: {describe(error)}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # the lock goes with the descriptor


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
