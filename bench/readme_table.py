"""The summary table of bench/README.md: rows as data, rendered to markdown, written between two marker comments.

Knows the README's markers, not the benchmarks; the prose around the markers is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- bench:begin (written by `python bench/run_all.py`; edit the prose outside the markers) -->"
END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Row:
    what: str
    reference: str
    result: str
    page: str
    """A file next to the README: the benchmark's own page (method, command, full table)."""


def markdown(rows: Sequence[Row], environment: Sequence[str]) -> str:
    """The table, then the environment lines, as the text between the markers."""
    lines = ["| what | reference (same run) | result | page |", "|---|---|---|---|"]
    lines += [f"| {row.what} | {row.reference} | {row.result} | [{row.page}]({row.page}) |" for row in rows]
    return "\n".join([*lines, "", "Measured on:", "", *environment])


def rewrite(readme: Path, rows: Sequence[Row], environment: Sequence[str]) -> None:
    """Replace what lies between the markers of `readme` with the table; refuse a README without both markers."""
    text = readme.read_text()
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise ValueError(f"{readme} lacks the markers {BEGIN!r} and {END!r} (in that order) around the table")
    table = markdown(rows, environment)
    readme.write_text(f"{text[: begin + len(BEGIN)]}\n{table}\n{text[end:]}")
