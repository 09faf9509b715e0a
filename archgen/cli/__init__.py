"""The command line: parse, call the library, render, exit. The single place errors become exit codes.

Exit codes (the table `archgen --help` ends with): 0 success, 1 a problem with the input (one line, no
traceback), 2 a usage error (one line), 128+N stopped by signal N (130: Ctrl-C). `archgen --debug …` shows
tracebacks.
"""

from __future__ import annotations

import os
import sys

import typer

from archgen.cli import commands  # noqa: F401  (registers every command on the app)
from archgen.cli.app import app
from archgen.cli.help import click_errors
from archgen.errors import ArchgenError, SpecError, printable

EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    """Run archgen with `argv` (default: sys.argv) and exit with its code."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="archgen", standalone_mode=False)
    except ArchgenError as error:
        if debug:
            raise
        # spec problems already read `path:line: field: message`, one per line; whatever a message quotes from
        # outside archgen (file names, bytes, library errors) is shown escaped, never as terminal control
        message = "\n".join(printable(line) for line in str(error).splitlines())
        print(message if isinstance(error, SpecError) else f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_PROBLEM)
    except click_errors.UsageError as error:
        sys.exit(_usage_error(error))
    except click_errors.ClickException as error:
        print(f"error: {printable(error.format_message())}", file=sys.stderr)
        sys.exit(error.exit_code)
    except typer.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # `archgen … | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_PROBLEM)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(error: click_errors.UsageError) -> int:
    """A usage error in one line, and where the command's options are listed (no help printed unasked)."""
    if isinstance(error, click_errors.NoArgsIsHelpError):  # `archgen` alone: its help is the answer
        print(error.ctx.get_help() if error.ctx else "", file=sys.stderr)
        return EXIT_USAGE
    where = f"{error.ctx.command_path} -h" if error.ctx else "archgen -h"
    print(f"error: {printable(error.format_message())} (options: {where})", file=sys.stderr)
    return error.exit_code
