"""`archgen search`: Optuna over a search spec's space, a live view while it runs, winners and plots at the end."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archgen.cli.app import app

if TYPE_CHECKING:
    from rich.console import Console

    from archgen.search import Optimization, SearchConfig, StorageSpec

DEFAULT_SEARCH = "digits-search"

STORAGE_HELP = (
    "Where the study lives (default: runs/<study>/journal.log, one machine): a journal file (*.log), "
    "sqlite:///FILE, or postgresql://USER:PASSWORD@HOST/DB to share one study between machines "
    "(run the same command on each)."
)
# --force for the study folder's files: best.toml, pareto/ and plots are rewritten when this study wrote them
ForceFiles = Annotated[
    bool, typer.Option("--force", help="Replace files in --out that no search or report of this study wrote.")
]


@app.command()
def search(
    spec: Annotated[
        str | None,
        typer.Argument(
            help=f"A search spec (a spec with a \\[search] table) or a shipped one's name (default: {DEFAULT_SEARCH}).",
            show_default=False,
        ),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            min=1,
            help="Trials to finish in the study, over all workers (default: the spec's, or 50).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=1, help="Stop starting trials after this many seconds.", show_default=False),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", "-d", help="What trials train on (default: the spec's train.data, digits).", show_default=False
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs", "-e", min=1, help="Epochs per trial (default: the spec's search.epochs).", show_default=False
        ),
    ] = None,
    storage: Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP, show_default=False)] = None,
    study: Annotated[
        str | None,
        typer.Option(
            "--study", help="Study name (default: the spec's name); the same name resumes it.", show_default=False
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-w", min=1, max=256, help="Processes on this machine, spread over its GPUs (cuda, auto)."
        ),
    ] = 1,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of sampling and training (each trial adds its number).")
    ] = 0,
    device: Annotated[str, typer.Option("--device", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N.")] = "auto",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for best.toml, pareto/, plots and each trial's TensorBoard events (default: runs/<study>/).",
            show_default=False,
        ),
    ] = None,
    force: ForceFiles = False,
) -> None:
    """Search depth, width and recipe over a spec's \\[search] space; write the winners as specs.

    Over-budget points are rejected by exact analysis before anything is built. A second identical
    command resumes the study; one whose spec, space or objectives changed is refused. Exactly
    --trials trials finish (COMPLETE or pruned) however many workers or machines share the study;
    with several GPUs visible, --workers N spreads them over the GPUs.
    """
    from archgen import load_spec
    from archgen.report.search import PLOT_FILES
    from archgen.search import SearchConfig, check_outputs, default_trials, resolve_spec, storage_spec

    resolved = resolve_spec(load_spec(spec or DEFAULT_SEARCH), epochs=epochs, data=data)
    name = study or resolved.name
    _check_study_name(name)
    folder = out or Path("runs") / name
    assert resolved.search is not None
    config = SearchConfig(
        spec=resolved,
        study=name,
        storage=storage_spec(storage, folder=Path("runs") / name),
        out=folder,
        trials=trials or default_trials(resolved.search),
        timeout=timeout,
        seed=seed,
        workers=workers,
        device=device,
        force=force,
    )
    from archgen.errors import printable
    from archgen.search import Stopped

    check_outputs(folder, ["best.toml", *PLOT_FILES], study=name, force=force)  # before hours of searching
    console = _console()
    console.print(  # no markup: the data and storage are the user's text (`[/x]` would be a rich closing tag)
        f"searching {name!r}: {config.trials} trial{'s' if config.trials > 1 else ''} of {resolved.search.epochs} "
        f"epoch{'s' if resolved.search.epochs > 1 else ''} on "
        f"{printable(resolved.train.data)}, {workers} worker{'s' if workers > 1 else ''}, study in "
        f"{config.storage.label}",
        markup=False,
    )
    try:
        done = _optimize(console, config)
    except Stopped as stop:
        console.print(f"stopped: {stop.reason}; the running trials were failed. Run the same command to go on.")
        raise typer.Exit(stop.exit_code) from None
    console.print(f"{done.verdict}: {_verdict(done.verdict)} in {done.seconds:.0f} s")
    render_results(console, done.study, config.storage, folder, target=config.trials, force=force)


def _optimize(console: Console, config: SearchConfig) -> Optimization:
    from rich.live import Live

    from archgen.report.search import live_view
    from archgen.search import optimize, progress

    with Live(console=console, refresh_per_second=4, transient=True) as live:  # the final report replaces it

        def show(study: Any) -> None:  # an optuna.Study: only archgen.search imports optuna
            live.update(live_view(progress(study, target=config.trials)))

        return optimize(config, on_progress=show)


def _verdict(verdict: str) -> str:
    return {
        "done": "the study has its trials",
        "timeout": "time is up",
        "exhausted": "every point of the space is tried",
    }[verdict]


def _check_study_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", name):
        raise typer.BadParameter(f"letters, digits, '_', '-', '.' (at most 64), got {name!r}", param_hint="--study")


def render_results(
    console: Console, study: Any, storage: StorageSpec, folder: Path, *, target: int | None, force: bool
) -> None:
    """The study's final report, its winners and plots written into `folder` (never over a file it did not write)."""
    from archgen.files import OutputExists
    from archgen.report.search import final_report, plot_files
    from archgen.search import storage_errors, study_results, winner_files, write_outputs

    with storage_errors(storage):
        found = study_results(study, target=target)
        winners = winner_files(study, found.best)
    try:
        written = write_outputs(folder, {**winners, **plot_files(found)}, study=study.study_name, force=force)
    except OutputExists:
        console.print(final_report(found))  # the study is whole: show it, then refuse the file in one line
        raise
    console.print(final_report(found, written=written))


def _console() -> Console:
    from rich.console import Console

    return Console()
