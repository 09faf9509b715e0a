"""The study journal file, hardened: a torn last record (a writer killed mid-append) cut off before the next append
and kept beside it, and a file that is not a journal, or a record Optuna cannot apply, one line naming the file and
the line. Knows files and Optuna's journal backend; where a study lives is `storage`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from archgen.errors import SearchError, first_line, printable
from archgen.files import open_append
from archgen.search.optuna_internals import AttributeCheck, GuardedJournal

TORN_SUFFIX = ".torn"  # cut-off half records are kept beside the journal, never silently destroyed
_TAIL_CHUNK = 1 << 16


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
    with open_append(path, follow=True) as file:  # the journal the user named; a FIFO there never blocks
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
        with open_append(path.with_name(path.name + TORN_SUFFIX), follow=False) as kept:
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
