"""`archgen predict`: a trained run's top classes for image files, each prepared as evaluation prepares an image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import JsonOption, app
from archgen.cli.evaluate import PreprocessingOption, RunArgument


@app.command()
def predict(
    run: RunArgument,
    images: Annotated[list[Path], typer.Argument(
        metavar="IMAGE", show_default=False,
        help="Image files (JPEG, PNG, ...); a folder expands to the images under it.")],
    top: Annotated[int, typer.Option("--top", metavar="K", help="Classes shown per image, most probable first.")] = 5,
    json: JsonOption = False,
    preprocessing: PreprocessingOption = None,
) -> None:
    """The most probable classes of each image, with their probabilities.

    Each image is decoded, converted, resized and cropped exactly as the run's validation loader prepares an image
    of its data, and normalised by the mean and std the run recorded; a run evaluated on ten crops averages them.
    Reads the run folder only: a run still training predicts with its newest checkpoint, and says so.
    """
    if top < 1:  # before the run is loaded
        from archgen.errors import ArchgenError

        raise ArchgenError(f"--top: must be at least 1, got {top}")
    from archgen.inference.inputs import check_run, given_record

    check_run(run)  # before torch loads: a mistyped path answers at once
    record = given_record(preprocessing)

    from archgen.inference import load
    from archgen.inference import predict as classify
    from archgen.report.console import console
    from archgen.report.predict import predictions_json, predictions_table

    result = classify(load(run, preprocessing=record), images, top=top)
    if json:
        typer.echo(predictions_json(result), nl=False)
    else:
        console(soft_wrap=True).print(predictions_table(result))  # notes on one line each
