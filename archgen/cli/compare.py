"""`archgen compare`: a table of several runs' final errors and sizes, with each deeper net's verdict against each
shallower one, and with `--plot` their curves overlaid in one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import ForceOption, JsonOption, PlotOption, app


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(
        metavar="RUN", file_okay=False, show_default=False, help="Run folders (runs/<name>-<time>/).")],
    plot: PlotOption = None,
    title: Annotated[str | None, typer.Option(
        "--title", metavar="TEXT", show_default=False, help="Title of the plot.")] = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown/--no-markdown", help="Print the tables as Markdown (for docs).")] = False,
    json: JsonOption = False,
    force: ForceOption = False,
) -> None:
    """Tabulate runs' final errors, losses and sizes; with --plot, overlay their error curves as the paper's Fig. 6.

    The table gives each run's final training and validation errors, parameters and MACs; runs of one spec and
    recipe from several seeds (train --seeds) are one row, each number their mean ± a 95% t-interval. Where runs
    of one family differ only in depth and trained alike (the same recipe and epochs), each deeper net is judged
    against each shallower one: "degrades" (higher training error: an optimisation failure), "over-fits"
    (training error no higher, validation error higher), "improves" or "same" (differences within Welch's
    t-test over the seeds, or two standard errors of one run's measured rates, count as none); a pair that
    trained differently is listed as not judged, with the difference. The plot's curves are training dashed,
    validation bold. A --plot file that exists is replaced only with --force.
    """
    from archgen.files import refuse_existing, write_atomic
    from archgen.report.compare import compare_json, compare_markdown, compare_table, labels
    from archgen.report.console import console
    from archgen.report.curves import curves_png
    from archgen.report.outside import printable
    from archgen.training.record import read_run

    if markdown and json:
        raise typer.BadParameter("--markdown and --json are two ways to print the tables; give one",
                                 param_hint="--json")
    if plot is not None:
        refuse_existing(plot, force=force)  # before any work
    records = [read_run(path) for path in runs]
    if markdown:
        typer.echo(compare_markdown(records), nl=False)
    elif json:
        typer.echo(compare_json(records, plot=plot), nl=False)
    else:
        shown = console()
        for table in compare_table(records):
            shown.print(table)
    if plot is not None:
        panels = ["plain" if not record.spec.body.residual else "ResNet" for record in records]  # the paper's Fig. 6
        png = curves_png(list(zip(labels(records), (record.history for record in records), strict=True)),
                         title=title, panels=panels if len(set(panels)) > 1 else None)
        write_atomic(plot, png, replace=force)
        typer.echo(f"wrote {printable(str(plot))}", err=markdown or json)
