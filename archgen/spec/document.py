"""Reading one TOML file safely, and finding the line where a key path is written.

Turns every way a file can be unreadable (missing, a folder, too big, not UTF-8, a BOM,
too deeply nested, an integer too large, a syntax error) into one located `Problem`.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli

from archgen.errors import Problem, SpecError
from archgen.spec.fields import Loc

MAX_FILE_BYTES = 1 << 20
MAX_NESTING = 32


@dataclass(frozen=True)
class Source:
    """One parsed TOML file: its path, its data, and where each key path is written."""

    path: Path
    data: dict[str, Any]
    lines: dict[Loc, int] = field(repr=False)

    def line_of(self, loc: Loc) -> int | None:
        """The line of the longest prefix of `loc` written in this file."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


def read_source(path: Path) -> Source:
    """Read and parse a spec file, raising a one-problem SpecError for anything unreadable."""
    text = _decode(path, _read_bytes(path))
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as error:
        raise _fail(path, f"invalid TOML: {error.msg}", error.lineno, error.colno) from None
    except RecursionError:  # brackets nested past Python's stack, or a dotted key of over 1000 parts
        raise _fail(path, f"arrays or tables nested too deeply (archgen reads at most {MAX_NESTING} levels)",
                    _line_of_deepest(text) or _line_of_longest_key(text)) from None
    except ValueError:  # an integer beyond Python's 4300-digit conversion limit
        raise _fail(path, "integer too large to read (more than 4300 digits)", _line_of_long_number(text)) from None
    source = Source(path=path, data=data, lines=locate_keys(text))
    if _nesting(data) > MAX_NESTING:
        deep = _too_deep(data) or ()
        line = min((line for loc, line in source.lines.items() if deep and loc[: len(deep)] == deep), default=None)
        raise _fail(path, f"arrays or tables nested too deeply (archgen reads at most {MAX_NESTING} levels)",
                    line or _line_of_deepest(text))
    return source


def _fail(path: Path, message: str, line: int | None = None, column: int | None = None) -> SpecError:
    return SpecError([Problem(path, message, line, column)])


def _read_bytes(path: Path) -> bytes:
    """The file's bytes: opened without blocking and judged by what was opened (fstat), so a FIFO or a folder put at
    the name after any check is refused, never waited on."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        status = os.fstat(descriptor)
        problem = "is a folder, not a spec file (archgen validate accepts folders)" if stat.S_ISDIR(status.st_mode) \
            else "is not a regular file" if not stat.S_ISREG(status.st_mode) \
            else f"file is {status.st_size:,} bytes; a spec may be at most {MAX_FILE_BYTES:,} bytes" \
            if status.st_size > MAX_FILE_BYTES else None
        if problem is not None:
            os.close(descriptor)
            raise _fail(path, problem)
        with os.fdopen(descriptor, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except PermissionError:
        raise _fail(path, "permission denied: the file cannot be read") from None
    except OSError as error:
        raise _fail(path, f"cannot be read: {os.strerror(error.errno) if error.errno else error}") from None
    except ValueError:  # Python refuses paths holding a NUL before asking the system
        raise _fail(path, "cannot be read: the path holds a NUL character") from None
    if len(raw) > MAX_FILE_BYTES:  # grew while we read it, or a special file without a size
        raise _fail(path, f"file is larger than {MAX_FILE_BYTES:,} bytes, the most a spec may be")
    return raw


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raise _fail(path, "file starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM", 1, 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise _fail(path, f"not valid UTF-8 (byte 0x{raw[error.start]:02x})", line, column) from None
    if not text.strip():
        raise _fail(path, "file is empty; a spec needs at least name, [input], [stem] and [body]")
    return text


def _nesting(value: Any, depth: int = 0) -> int:
    if depth > MAX_NESTING:
        return depth
    if isinstance(value, dict):
        return max((_nesting(item, depth + 1) for item in value.values()), default=depth + 1)
    if isinstance(value, list):
        return max((_nesting(item, depth + 1) for item in value), default=depth + 1)
    return depth


def _too_deep(value: Any, loc: Loc = ()) -> Loc | None:
    """The first key path nested deeper than MAX_NESTING (dotted table headers nest without brackets)."""
    if len(loc) > MAX_NESTING:
        return loc
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _too_deep(item, (*loc, key))
        if found:
            return found
    return None


def _line_of_deepest(text: str) -> int | None:
    """Line where bracket nesting first passes the limit (strings are not skipped: a hint, not a parse)."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(char, 0)
        if depth > MAX_NESTING:
            return text.count("\n", 0, index) + 1
    return None


def _line_of_longest_key(text: str) -> int | None:
    """Line of the key path with the most parts (`a.b.c… = 1`), if it nests past the limit."""
    loc, line = max(locate_keys(text).items(), key=lambda item: len(item[0]), default=((), None))
    return line if len(loc) > MAX_NESTING else None


def _line_of_long_number(text: str) -> int | None:
    match = re.search(r"\d{4300,}", text)
    return None if match is None else text.count("\n", 0, match.start()) + 1


# --- where keys are written ---------------------------------------------------------------

_BARE_KEY = r"[A-Za-z0-9_-]+"
_QUOTED_KEY = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_KEY = rf"(?:{_BARE_KEY}|{_QUOTED_KEY})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_TABLE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_ARRAY_TABLE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(_KEY, dotted)
    return tuple(_unquote(part) if part[:1] in "\"'" else part for part in parts)


def _unquote(key: str) -> str:
    """A quoted key as the parser reads it: `"a\\nb"` holds a newline (escapes apply in double quotes only)."""
    if key[:1] == "'" or "\\" not in key:
        return key[1:-1]
    try:
        return next(iter(tomli.loads(f"{key} = 0")))
    except tomli.TOMLDecodeError:
        return key[1:-1]


def locate_keys(text: str) -> dict[Loc, int]:
    """Map every key path to the line that writes it: `[body]`, `depths = …`, `[[body.stages]]` (indexed).

    A line scanner, not a parser (the file already parsed): it follows table headers and
    key assignments at the start of lines and skips the insides of multi-line strings and arrays.
    """
    lines: dict[Loc, int] = {}
    table: Loc = ()
    array_counts: dict[Loc, int] = {}
    in_string: str | None = None
    open_brackets = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if in_string in line:
                in_string = None
            continue
        if open_brackets > 0:
            open_brackets = max(open_brackets + _bracket_balance(line), 0)
            continue
        if match := _ARRAY_TABLE.match(line):
            key = _split_key(match.group(1))
            index = array_counts.get(key, -1) + 1
            array_counts[key] = index
            table = (*key, index)
            lines.setdefault(key, number)
            lines[table] = number
        elif match := _TABLE.match(line):
            table = _split_key(match.group(1))
            lines.setdefault(table, number)
        elif match := _ASSIGN.match(line):
            assigned: Loc = (*table, *_split_key(match.group(1)))
            lines[assigned] = number
            value = line[match.end():]
            in_string = _opens_multiline_string(value)
            if in_string is None:
                open_brackets = max(_bracket_balance(value), 0)
    return lines


def _opens_multiline_string(value: str) -> str | None:
    for quote in ('"""', "'''"):
        start = value.find(quote)
        if start != -1 and value.find(quote, start + 3) == -1:
            return quote
    return None


def _bracket_balance(value: str) -> int:
    """Net open brackets on a line, ignoring strings and comments (enough to follow multi-line arrays)."""
    balance, quote = 0, ""
    for char in value:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance  # negative on a line that closes more than it opens: `]` ending a multi-line array
