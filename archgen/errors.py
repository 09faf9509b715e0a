"""The errors archgen raises on bad input: one base class the CLI turns into messages.

Domain code raises these with the rule and the value; it never prints or exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def printable(text: str) -> str:
    """`text` with control, bidi and zero-width characters escaped as Python does, so that a name taken from
    the user's files (a key, a file name with a newline or U+202E) stays on its one line and reads as it is."""
    return text if text.isprintable() else repr(text)[1:-1]


def first_line(error: BaseException) -> str:
    """The first line of an error's message (libraries' errors run to pages), or its type's name if it has none."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class ArchgenError(Exception):
    """A problem with the user's input or environment, worth one clear line (no traceback)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located as precisely as the source allows."""

    file: Path | None
    message: str
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = "" if self.file is None else printable(str(self.file))
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}" if where else f"{field}{self.message}"


class SpecError(ArchgenError):
    """A spec that cannot be read or does not follow the language's rules; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class DataError(ArchgenError):
    """A data source that is missing, malformed or does not fit the network."""


class RunError(ArchgenError):
    """A run folder or checkpoint that cannot be written, read or trusted."""


class SearchError(ArchgenError):
    """A study that cannot be created, resumed or carried on."""
