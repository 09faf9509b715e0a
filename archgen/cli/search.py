"""`archgen search`: Optuna over a search spec's space, a live view while it runs, winners and plots at the end."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archgen.cli.app import DeviceOption, JsonOption, SetOption, app

if TYPE_CHECKING:
    from rich.console import Console

    from archgen.search import Optimization, SearchConfig, StorageSpec

DEFAULT_SEARCH = "digits-search"

STORAGE_HELP = (
    "Where the study lives (default: runs/<study>/journal.log, one machine): a journal file (*.log), "
    "sqlite:///FILE, or postgresql://USER:PASSWORD@HOST/DB to share one study between machines "
    "(run the same command on each)."
)
StorageOption = Annotated[str | None, typer.Option("--storage", metavar="URL", help=STORAGE_HELP, show_default=False)]
# --force for the study folder's files: best.toml, pareto/ and plots are rewritten when this study wrote them
ForceFiles = Annotated[bool, typer.Option(
    "--force/--no-force", help="Replace files in --out that no search or report of this study wrote.")]


@app.command()
def search(
    spec: Annotated[str | None, typer.Argument(
        metavar="SPEC", show_default=False,
        help=f"A search spec (a spec with a [search] table) or a shipped one's name (default: {DEFAULT_SEARCH}).",
    )] = None,
    trials: Annotated[int | None, typer.Option(
        "--trials", "-n", metavar="N", min=1, show_default=False,
        help="Trials to finish in the study, over all workers, counting those finished before (default: the "
        "spec's, or 50).")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", metavar="SECONDS", min=1, show_default=False, help="Stop starting trials after this long.")
    ] = None,
    data: Annotated[str | None, typer.Option(
        "--data", "-d", metavar="DATA", show_default=False,
        help="What trials train on: --set train.data=DATA (default: the spec's, digits).")] = None,
    epochs: Annotated[int | None, typer.Option(
        "--epochs", "-e", metavar="N", min=1, show_default=False,
        help="Epochs per trial: --set search.epochs=N (default: the spec's).")] = None,
    set: SetOption = None,
    storage: StorageOption = None,
    study: Annotated[str | None, typer.Option(
        "--study", metavar="NAME", show_default=False,
        help="Study name (default: the spec's name); the same name resumes it, a new one starts anew.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", "-w", metavar="N", min=1, max=256,
        help="Processes on this machine, spread over its GPUs (cuda, auto).")] = 1,
    seed: Annotated[int, typer.Option(
        "--seed", metavar="N", min=0, help="Seed of sampling and training (each trial adds its number).")] = 0,
    device: DeviceOption = "auto",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", file_okay=False, show_default=False,
        help="Folder for best.toml, pareto/, plots and each trial's TensorBoard events (default: runs/<study>/).",
    )] = None,
    force: ForceFiles = False,
    json: JsonOption = False,
    from_study: Annotated[Path | None, typer.Option(
        "--from-study", metavar="DIR", file_okay=False, show_default=False,
        help="Import the finished trials of the study in DIR (runs/<study>/) whose networks are points of this "
        "space, trained on the same data with the same recipe, without training them again.")] = None,
) -> None:
    """Search depth, width and recipe over a spec's [search] space; write the winners as specs.

    Over-budget points are rejected by exact analysis before anything is built. A second identical command
    resumes the study; one whose spec, space or objectives changed is refused, and one whose study already has
    its trials says so. Exactly --trials trials finish (COMPLETE or pruned) however many workers or machines
    share the study; with several GPUs visible, --workers N spreads them over the GPUs. Piped or logged, it
    prints a line as each trial finishes; with --json, stdout holds one JSON document of the results.
    """
    from archgen import load_spec
    from archgen.cli.inputs import check_data, overridden
    from archgen.report.search import PLOT_FILES
    from archgen.search import SearchConfig, check_outputs, default_trials, resolve_spec, storage_spec

    resolved = overridden(resolve_spec(load_spec(spec or DEFAULT_SEARCH)), set, aliases=[
        ("search.epochs", epochs, "--epochs"), ("train.data", data, "--data")])
    check_data(resolved.train.data)
    name = study or resolved.name
    _check_study_name(name)
    folder = out or Path("runs") / name
    assert resolved.search is not None
    config = SearchConfig(
        spec=resolved, study=name, storage=storage_spec(storage, folder=Path("runs") / name), out=folder,
        trials=trials or default_trials(resolved.search), timeout=timeout, seed=seed, workers=workers,
        device=device, force=force,
    )
    source = _source(from_study, config)  # read only: a study it cannot import from is refused before any write
    check_outputs(folder, ["best.toml", *PLOT_FILES], study=name, force=force)  # before hours of searching
    console = _console(json=json)
    console.print(_opening(config), markup=False)  # no markup: the data and storage are the user's text
    if _already_done(console, config):
        render_results(console, _study_of(config), config.storage, folder, target=config.trials, force=force,
                       json=json)
        return
    done = _run(console, config, source)
    console.print(f"{done.verdict}: {_verdict(done.verdict)} in {done.seconds:.0f} s")
    render_results(console, done.study, config.storage, folder, target=config.trials, force=force, json=json)


def _opening(config: SearchConfig) -> str:
    from archgen.errors import printable

    assert config.spec.search is not None
    epochs, workers = config.spec.search.epochs, config.workers
    return (f"searching {config.study!r}: {_count(config.trials, 'trial')} of {_count(epochs, 'epoch')} on "
            f"{printable(config.spec.train.data)}, {_count(workers, 'worker')}, study in "
            f"{printable(config.storage.label)}")


def _already_done(console: Console, config: SearchConfig) -> bool:
    """A study that already has its --trials finished has nothing to run: say so, and how to go on."""
    from archgen.search import progress

    journal = config.storage.journal
    if journal is not None and not journal.exists():
        return False  # no study yet: opening one here would create its folder before the memory check refuses
    found = progress(_study_of(config), target=config.trials)
    if found.finished < config.trials:
        return False
    more = max(found.finished, config.trials) + config.trials
    console.print(
        f"study {config.study!r} already has {found.finished} finished trials of the {config.trials} asked for, so "
        f"there is nothing to run. To add trials, give the total: --trials {more} ({more - found.finished} more); "
        f"to start a new study: --study NAME. Its results:", markup=False)
    return True


def _study_of(config: SearchConfig) -> Any:
    from archgen.search import open_study, storage_errors

    with storage_errors(config.storage):
        return open_study(config)


def _source(folder: Path | None, config: SearchConfig) -> list[Any]:
    """The study --from-study names, checked (an archgen.search.Source), if any."""
    from archgen.search import other_study

    return [] if folder is None else [other_study(folder, config)]


def _run(console: Console, config: SearchConfig, source: list[Any]) -> Optimization:
    from archgen.search import Stopped

    try:
        return _optimize(console, config, source)
    except Stopped as stop:
        console.print(f"stopped: {stop.reason}; the running trials were failed. Run the same command to go on.",
                      markup=False)
        raise typer.Exit(stop.exit_code) from None


def _optimize(console: Console, config: SearchConfig, source: list[Any]) -> Optimization:
    """The search, shown live on a terminal; elsewhere (a pipe, a log) a status line each time a trial finishes.
    Trials imported from `source` and specs enqueued are said first."""
    from rich.live import Live

    from archgen.report.search import live_view, status_line
    from archgen.search import optimize, progress

    def note(text: str) -> None:
        console.print(text, markup=False, soft_wrap=True)  # names a folder (the user's text); one line

    if not console.is_terminal:
        finished = [0]

        def line(study: Any) -> None:  # an optuna.Study: only archgen.search imports optuna
            now = progress(study, target=config.trials)
            if now.finished != finished[0]:
                finished[0] = now.finished
                console.print(status_line(now), soft_wrap=True)  # one line per trial, whatever the width

        return optimize(config, on_progress=line, from_study=source, on_note=note)
    with Live(console=console, refresh_per_second=4, transient=True) as live:  # the final report replaces it

        def show(study: Any) -> None:
            live.update(live_view(progress(study, target=config.trials)))

        return optimize(config, on_progress=show, from_study=source, on_note=note)


def _verdict(verdict: str) -> str:
    return {
        "done": "the study has its trials",
        "timeout": "time is up",
        "exhausted": "every point of the space is tried",
    }[verdict]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _check_study_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", name):
        raise typer.BadParameter(f"letters, digits, '_', '-', '.' (at most 64), got {name!r}", param_hint="--study")


def render_results(console: Console, study: Any, storage: StorageSpec, folder: Path, *, target: int | None,
                   force: bool, json: bool) -> None:
    """The study's final report, its winners and plots written into `folder` (never over a file it did not write);
    with `json`, the same results as one JSON document on stdout."""
    from archgen.files import OutputExists
    from archgen.report.search import final_report, plot_files, results_json, stale_plots
    from archgen.search import storage_errors, study_results, winner_files, write_outputs

    with storage_errors(storage):
        found = study_results(study, target=target)
        winners = winner_files(study, found.best)
    plots = plot_files(found)
    try:
        written = write_outputs(folder, {**winners, **plots}, study=study.study_name, force=force)
    except OutputExists:
        console.print(final_report(found))  # the study is whole: show it, then refuse the file in one line
        raise
    stale = stale_plots(folder, drawn=plots)
    console.print(final_report(found, written=written, stale=stale))
    if json:
        typer.echo(results_json(found, written=written, stale=stale), nl=False)


def _console(*, json: bool) -> Console:
    from archgen.report.console import console

    return console(stderr=json)  # with --json, stdout holds the results alone
