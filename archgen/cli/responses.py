"""`archgen responses`: the standard deviation of every 3x3 layer's response (He et al. 2016, Fig. 7) of trained
runs, as a table (or Markdown, or JSON: one value per layer), and with `--plot` the paper's two panels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import DeviceOption, ForceOption, JsonOption, PlotOption, app


@app.command()
def responses(
    runs: Annotated[list[Path], typer.Argument(
        metavar="RUN", file_okay=False, show_default=False, help="Finished run folders (runs/<name>-<time>/).")],
    plot: PlotOption = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown/--no-markdown", help="Print the table as Markdown (for docs).")] = False,
    json: JsonOption = False,
    device: DeviceOption = "auto",
    force: ForceOption = False,
) -> None:
    """Measure each run's 3x3 layer responses on its validation images, as the ResNet paper's Fig. 7.

    A layer's response is the std of its output after its BN, before the ReLU or the addition. Prints a table of
    each run's mean, median and largest std (--markdown: as Markdown; --json: every layer's value); --plot FILE
    draws them by layer index and sorted by magnitude, plain and residual nets overlaid. Every output is checked
    before anything is measured or written; a --plot file that exists is replaced only with --force.
    """
    from archgen.files import refuse_existing, write_atomic
    from archgen.report.console import console
    from archgen.report.outside import printable
    from archgen.report.responses import responses_json, responses_markdown, responses_png, responses_table
    from archgen.training.responses import layer_responses

    if markdown and json:
        raise typer.BadParameter("--markdown and --json are two ways to print the table; give one",
                                 param_hint="--json")
    if plot is not None:
        refuse_existing(plot, force=force)  # every output checked before anything is measured or written
    measured = [layer_responses(run, device=device) for run in runs]
    if json:
        typer.echo(responses_json(measured), nl=False)
    elif markdown:
        typer.echo(responses_markdown(measured), nl=False)
    else:
        console().print(responses_table(measured))
    if plot is not None:
        write_atomic(plot, responses_png(measured, title="std of 3x3 layer responses (validation images)"),
                     replace=force)
        typer.echo(f"wrote {printable(str(plot))}", err=True)
