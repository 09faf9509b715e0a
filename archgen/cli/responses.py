"""`archgen responses`: the standard deviation of every 3x3 layer's response (He et al. 2016, Fig. 7) of trained
runs, as JSON (one value per layer) and a PNG in the paper's two panels, plain and residual nets overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import ForceOption, app


@app.command()
def responses(
    runs: Annotated[list[Path], typer.Argument(help="Finished run folders (runs/<name>-<time>/).", show_default=False)],
    json: Annotated[Path, typer.Option("--json", help="JSON file: one value per layer and run.")] = Path(
        "responses.json"),
    plot: Annotated[Path, typer.Option("--plot", "-p", help="PNG: by layer index, and sorted by magnitude.")] = Path(
        "responses.png"),
    device: Annotated[str, typer.Option("--device", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N.")] = "auto",
    force: ForceOption = False,
) -> None:
    """Measure each run's layer responses on its validation images: the std of every 3x3 layer's output after its
    BN, before the ReLU or the addition, as the ResNet paper's Fig. 7. Prints a table of each run's mean,
    median and largest std."""
    from archgen.files import refuse_existing, write_atomic
    from archgen.report.responses import responses_json, responses_markdown, responses_png
    from archgen.training.responses import layer_responses

    for path in (json, plot):
        refuse_existing(path, force=force)
    measured = [layer_responses(run, device=device) for run in runs]
    write_atomic(json, responses_json(measured).encode(), replace=force)
    write_atomic(plot, responses_png(measured, title="std of 3x3 layer responses (validation images)"), replace=force)
    typer.echo(responses_markdown(measured), nl=False)
    typer.echo(f"wrote {json} and {plot}", err=True)
