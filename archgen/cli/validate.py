"""`archgen validate`: check spec files and folders; exit 1 when any is invalid. Never imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import app
from archgen.report.problems import Format, render
from archgen.validation import validate_paths


@app.command()
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Spec files, shipped spec names, or folders (searched recursively for *.toml)."),
    ],
    format: Annotated[
        Format,
        typer.Option("--format", "-f", help="text: path:line: field: message per problem; json; github: annotations."),
    ] = "text",
) -> None:
    """Check specs: syntax, the language's rules and archgen's size limits.

    Prints one line per problem (path:line: field.path: message) and a summary, all on stdout.
    Exit 0 when every spec is valid, 1 when any is not.
    """
    report = validate_paths(paths)
    typer.echo(render(report, format=format), nl=False)
    if not report.valid:
        raise typer.Exit(1)
