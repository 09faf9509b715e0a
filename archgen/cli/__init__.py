"""The command line: parse, call the library, render, exit. The single place errors become exit codes.

Exit codes: 0 success, 1 a problem with the input (one line each, no traceback), 2 usage error
(typer's own), 130 interrupted. `archgen --debug …` shows tracebacks.
"""

from __future__ import annotations

import sys

import typer

from archgen.cli import commands  # noqa: F401  (registers every command on the app)
from archgen.cli.app import app
from archgen.errors import ArchgenError, SpecError, printable

EXIT_PROBLEM = 1
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    """Run archgen with `argv` (default: sys.argv) and exit with its code."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="archgen")  # standalone: exits itself, usage errors with 2
    except ArchgenError as error:
        if debug:
            raise
        # spec problems already read `path:line: field: message`, one per line; whatever a message quotes from
        # outside archgen (file names, bytes, library errors) is shown escaped, never as terminal control
        message = "\n".join(printable(line) for line in str(error).splitlines())
        print(message if isinstance(error, SpecError) else f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_PROBLEM)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
