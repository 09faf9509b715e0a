"""Text from outside archgen — file and folder names, a spec's strings, data sources, storages, what a run's files
say — shown as it is: control characters escaped for the terminal, rich markup escaped for rich.

The two functions every renderer uses for such text: `printable` (the terminal's, for plain text and rich `Text`)
and `markup` (rich's, for anything rich parses: `console.print` strings and table cells).
"""

from __future__ import annotations

from rich.markup import escape

from archgen.errors import printable


def markup(text: object) -> str:
    """`text` for a string rich reads as markup: `[red]` stays `[red]`, an ESC reads `\\x1b`, a newline `\\n`."""
    return escape(printable(str(text)))


__all__ = ["markup", "printable"]
