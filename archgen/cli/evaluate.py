"""`archgen evaluate`: a trained run measured on a split of any data source, as training's validation measures it;
with `--plot` the confusion matrix as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from archgen.cli.app import DeviceOption, ForceOption, JsonOption, PlotOption, app

RunArgument = Annotated[Path, typer.Argument(
    metavar="RUN", file_okay=False, show_default=False, help="A run folder (runs/<name>-<time>/).")]
PreprocessingOption = Annotated[Path | None, typer.Option(
    "--preprocessing", metavar="FILE", dir_okay=False, show_default=False,
    help="A preprocessing record (JSON) to use instead of the run's: for runs trained before archgen recorded one.")]


@app.command()
def evaluate(
    run: RunArgument,
    data: Annotated[str | None, typer.Option(
        "--data", "-d", metavar="DATA", show_default=False,
        help="Any source archgen train reads (default: the run's own data).")] = None,
    split: Annotated[Literal["val", "test", "train"], typer.Option(
        "--split", help="val (what training validated on), test (an image folder's test/) or train.")] = "val",
    crops: Annotated[Literal["center", "ten"] | None, typer.Option(
        "--crops", show_default=False,
        help="One centre crop, or ten (corners and centre, mirrored; softmax averaged) (default: the run's).")] = None,
    plot: PlotOption = None,
    json: JsonOption = False,
    device: DeviceOption = "auto",
    preprocessing: PreprocessingOption = None,
    force: ForceOption = False,
) -> None:
    """Top-1 (and top-5) error, per-class errors and the confusion matrix of a trained run on a data split.

    The images go through the loaders training validated with, normalised as the run recorded, so the run's own
    data and split give its recorded final validation error exactly. --plot FILE draws the confusion matrix (up to
    50 classes); a file that exists is replaced only with --force. Reads the run folder only: a run still training
    is evaluated with its newest checkpoint, and said so.
    """
    from archgen.data import parse_source
    from archgen.files import refuse_existing, write_atomic
    from archgen.inference.inputs import check_run, given_record
    from archgen.report.outside import printable

    if plot is not None:
        refuse_existing(plot, force=force)  # before any work
    check_run(run)  # these three before torch loads: a mistyped path answers at once
    record = given_record(preprocessing)
    if data is not None:
        parse_source(data)

    from archgen.inference import evaluate as measure
    from archgen.inference import load
    from archgen.report.console import console
    from archgen.report.evaluate import confusion_png, evaluation_json, evaluation_report

    net = load(run, preprocessing=record)
    result = measure(net, data=data, split=split, crop=crops, device=device)
    png = confusion_png(result, title=f"{printable(run.resolve().name)} · {result.split} split") if plot else None
    if json:
        typer.echo(evaluation_json(result, run=run), nl=False)
    else:
        console(soft_wrap=True).print(evaluation_report(result, run=run))  # notes on one line each
    if plot is not None and png is not None:
        write_atomic(plot, png, replace=force)
        typer.echo(f"wrote {printable(str(plot))} (confusion matrix)", err=json)
    elif plot is not None:
        typer.echo(f"no {printable(str(plot))}: a confusion matrix is drawn for up to 50 classes", err=True)
