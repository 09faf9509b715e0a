"""Where archgen's rich output goes: the consoles every command prints through, sized so that no value is cut.

On a terminal, its width (tables wrap long values: every column folds rather than cutting); piped or logged,
COLUMNS if set, else wide enough for any table, so a log holds whole lines.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console

LOG_WIDTH = 1000  # piped or logged without COLUMNS: lines as long as their content (tables take what they need)


def console(*, stderr: bool = False, quiet: bool = False, soft_wrap: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width, COLUMNS, or LOG_WIDTH when neither is given."""
    file: TextIO = sys.stderr if stderr else sys.stdout
    probe = Console(file=file)
    width = None if probe.is_terminal or os.environ.get("COLUMNS") else LOG_WIDTH
    return Console(file=file, width=width, quiet=quiet, soft_wrap=soft_wrap)
