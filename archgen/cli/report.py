"""`archgen report`: re-render a finished (or running) search from its storage: table, winners, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import app
from archgen.cli.search import STORAGE_HELP, ForceFiles


@app.command()
def report(
    study: Annotated[
        str, typer.Argument(help="A study folder (runs/<study>/, holding journal.log), or a study name with --storage.")
    ],
    storage: Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP, show_default=False)] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for best.toml, pareto/ and plots (default: the study folder, or runs/<study>/).",
            show_default=False,
        ),
    ] = None,
    force: ForceFiles = False,
) -> None:
    """Show a search's top trials and rewrite its winning specs and plots, from the study alone.

    A file in the folder is rewritten only if a search or report of this study wrote it and it is unchanged since
    (or with --force).
    """
    from archgen.cli.search import _console, render_results
    from archgen.errors import SearchError, redacted
    from archgen.search import JOURNAL_NAME, load_study, storage_spec

    folder = Path(study)
    if storage is None:
        journal = folder / JOURNAL_NAME if folder.is_dir() else folder
        if not journal.is_file():
            raise SearchError(
                f"{redacted(study)}: no study folder with a {JOURNAL_NAME} here; give a folder or --storage URL"
            )
        where, name = storage_spec(str(journal), folder=journal.parent), None
        folder = out or journal.parent
    else:
        where, name = storage_spec(storage, folder=Path("runs") / study), study
        folder = out or Path("runs") / study
    render_results(_console(), load_study(where, name), where, folder, target=None, force=force)

