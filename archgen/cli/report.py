"""`archgen report`: re-render a finished (or running) search from its storage: table, winners, plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archgen.cli.app import app
from archgen.cli.search import STORAGE_HELP

if TYPE_CHECKING:
    from archgen.search import StorageSpec


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
) -> None:
    """Show a search's top trials and rewrite its winning specs and plots, from the study alone."""
    from archgen.cli.search import _console, _render_results
    from archgen.errors import SearchError, redacted
    from archgen.search import storage_spec
    from archgen.search.storage import JOURNAL_NAME

    folder = Path(study)
    if storage is None:
        journal = folder / JOURNAL_NAME if folder.is_dir() else folder
        if not journal.is_file():
            raise SearchError(
                f"{redacted(study)}: no study folder with a {JOURNAL_NAME} here; give a folder or --storage URL"
            )
        spec = storage_spec(str(journal), folder=journal.parent)
        name = _only_study(spec)
        folder = out or journal.parent
    else:
        spec = storage_spec(storage, folder=Path("runs") / study)
        name = study
        folder = out or Path("runs") / study
    _render_results(_console(), name, spec, folder, target=None)


def _only_study(spec: StorageSpec) -> str:
    from archgen.errors import SearchError, printable
    from archgen.search.storage import open_storage, storage_errors
    from archgen.search.study import study_names

    with storage_errors(spec):
        names = study_names(open_storage(spec))
    if len(names) != 1:
        listed = printable(", ".join(names))
        raise SearchError(f"the journal holds {len(names)} studies ({listed}); name one with --storage")
    return names[0]
