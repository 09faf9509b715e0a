"""`archgen ARGS` run in this process through the real entry point and its error boundary (`archgen.cli.main`):
the exit code, stdout and stderr a user would see, without paying a new interpreter's imports for each case.

A subprocess adds something only where the process itself is under test (signals, limits, a fresh interpreter's
imports); everywhere else this is the same code path.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def archgen_here(*args: str) -> Outcome:
    """`archgen ARGS` as `python -m archgen ARGS` runs it, here: usage errors exit 2, bad input 1 with one line."""
    from archgen.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())
