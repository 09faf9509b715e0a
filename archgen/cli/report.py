"""`archgen report`: re-render a finished (or running) search from its storage: table, winners, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import JsonOption, app
from archgen.cli.search import ForceFiles, StorageOption


@app.command()
def report(
    study: Annotated[str, typer.Argument(
        metavar="STUDY", help="A study folder (runs/<study>/, holding journal.log), a study name whose folder is "
        "runs/<study>/, or a study name with --storage.")],
    storage: StorageOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", file_okay=False, show_default=False,
        help="Folder for best.toml, pareto/ and plots (default: the study folder, or runs/<study>/).")] = None,
    force: ForceFiles = False,
    json: JsonOption = False,
) -> None:
    """Show a search's top trials and rewrite its winning specs and plots, from the study alone.

    A file in the folder is rewritten only if a search or report of this study wrote it and it is unchanged since
    (or with --force). With --json, stdout holds one JSON document of the results.
    """
    from archgen.cli.search import _console, render_results
    from archgen.errors import SearchError, redacted
    from archgen.search import JOURNAL_NAME, load_study, storage_spec

    if storage is None:
        journal = _journal(study, JOURNAL_NAME)
        if journal is None:
            raise SearchError(f"{redacted(study)}: no study folder with a {JOURNAL_NAME} here, nor in "
                              f"runs/{redacted(study)}/; give a study folder, or a study name and --storage URL")
        where, name = storage_spec(str(journal), folder=journal.parent), None
        folder = out or journal.parent
    else:
        where, name = storage_spec(storage, folder=Path("runs") / study), study
        folder = out or Path("runs") / study
    render_results(_console(json=json), load_study(where, name), where, folder, target=None, force=force, json=json)


def _journal(study: str, name: str) -> Path | None:
    """The journal `study` names: a folder holding one, the file itself, or a study name's runs/<study>/."""
    given = Path(study)
    for candidate in (given / name if given.is_dir() else given, Path("runs") / study / name):
        if candidate.is_file():
            return candidate
    return None
