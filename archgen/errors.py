"""The errors archgen raises on bad input: one base class the CLI turns into messages.

Domain code raises these with the rule and the value; it never prints or exits.
"""

from __future__ import annotations

import re
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


# --- secrets in URLs -------------------------------------------------------------------------------------

SECRET = "***"
# Query and conninfo keys that carry a secret, decoded and lower-cased: libpq's password, sslpassword and
# oauth_client_secret; drivers' pass, passwd, pwd; tokens and keys of any kind (a path such as passfile is
# hidden too: better one key too many than one secret shown).
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|credential|auth|api.?key|private", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_PAIR = re.compile(r"(?:^|(?<=[?&;\s,]))([^=?&;\s,]+)=")  # `key=` at the start, after ?, &, ; , or blank
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")
_MIN_ECHOED = 3  # shorter secrets are hidden where they sit in a URL, not wherever the letters appear


def redact_url(url: str) -> str:
    """`url` as a person may see it: every place a URL or a libpq conninfo string can hold a secret, hidden.

    The one function that knows those places (everything that shows a storage URL goes through it):
    the password of the user info, read as generously as any parser could read it (SQLAlchemy's password
    runs to the first `@`, RFC 3986's user info to the last `@` of the authority, a password may hold `/`,
    `?` or `:`), so everything between the first `:` after `scheme://` and the last `@` is hidden; and the
    value of every query or conninfo parameter whose name, percent-decoded, names a secret (`password`,
    `sslpassword`, `pass%77ord`, …), up to the next `&` (a URL) or blank (a conninfo string).
    """
    return _render(url, _secret_spans(url))


def redacted(text: str, *, url: str | None = None) -> str:
    """`text` (an error message from a library, say) fit to show: every URL in it passed through `redact_url`,
    every secret `url` holds hidden wherever it appears (decoded or encoded), and control characters escaped."""
    hidden = sorted(_known_secrets(url), key=len, reverse=True) if url else []
    for secret in hidden:
        text = text.replace(secret, SECRET)
    text = _URL_IN_TEXT.sub(lambda found: redact_url(found.group(0)), text)
    return printable(_render(text, _pair_spans(text, url=False)))


def _secret_spans(url: str) -> list[tuple[int, int]]:
    scheme = _SCHEME.match(url)
    if scheme is None:  # a conninfo string: `host=h password=pw`
        return _pair_spans(url, url=False)
    spans = _pair_spans(url, url=True)
    start, at = scheme.end(), url.rfind("@")
    colon = url.find(":", start)
    if at > start and 0 <= colon < at:
        spans.append((colon + 1, at))
    return spans


def _pair_spans(text: str, *, url: bool) -> list[tuple[int, int]]:
    """Where the values of secret `key=value` pairs lie: to the next `&` in a URL, to the next blank otherwise."""
    from urllib.parse import unquote_plus

    spans = []
    for pair in _PAIR.finditer(text):
        if not _SECRET_KEY.search(unquote_plus(pair.group(1))):
            continue
        end = text.find("&", pair.end()) if url else _conninfo_value_end(text, pair.end())
        spans.append((pair.end(), len(text) if end < 0 else end))
    return spans


def _conninfo_value_end(text: str, start: int) -> int:
    """The end of a conninfo value: a quoted one ('it\\'s') at its closing quote, a bare one at a blank or `&`."""
    if text[start : start + 1] == "'":
        index = start + 1
        while index < len(text) and text[index] != "'":
            index += 2 if text[index] == "\\" else 1
        return min(index + 1, len(text))
    found = re.compile(r"[\s&]").search(text, start)
    return found.start() if found else len(text)


def _render(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the (possibly overlapping) spans replaced by SECRET, one SECRET per merged span."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        elif end > start:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + SECRET + text[end:]
    return text


def _known_secrets(url: str) -> set[str]:
    """The secrets `url` holds, as written and in the other spellings a library might echo them in."""
    from urllib.parse import quote, quote_plus, unquote, unquote_plus

    found = set()
    for start, end in _secret_spans(url):
        raw = url[start:end]
        pieces = raw.split("@")  # SQLAlchemy ends the password at the first `@` and reads the rest as the host
        for piece in {raw, *pieces, *(piece + "@" for piece in pieces[1:])}:
            for decoded in (piece, unquote(piece), unquote_plus(piece)):
                found |= {decoded, quote(decoded, safe=""), quote_plus(decoded), repr(decoded)[1:-1]}
    return {secret for secret in found if len(secret) >= _MIN_ECHOED}
