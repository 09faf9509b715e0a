"""`archgen compare`: several runs' curves overlaid in one PNG, and a table of their final errors and sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import ForceOption, app


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (runs/<name>-<time>/).", show_default=False)],
    plot: Annotated[Path, typer.Option("--plot", "-p", help="PNG the overlaid curves go to.")] = Path("compare.png"),
    title: Annotated[str | None, typer.Option("--title", help="Title of the plot.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the table as Markdown (for docs).")] = False,
    force: ForceOption = False,
) -> None:
    """Overlay the runs' error curves (training dashed, validation bold) as the paper's Fig. 6; tabulate them.

    The table gives each run's final training and validation errors, parameters and MACs. Where runs of one
    family differ only in depth, each deeper net is judged against each shallower one: "degrades" (higher
    training error: an optimisation failure), "over-fits" (training error no higher, validation error higher),
    "improves" or "same" (differences within two standard errors of the measured rates count as none).
    """
    from rich.console import Console

    from archgen.files import refuse_existing, write_atomic
    from archgen.report.compare import compare_markdown, compare_table, labels
    from archgen.report.curves import curves_png
    from archgen.training.record import read_run

    refuse_existing(plot, force=force)
    records = [read_run(path) for path in runs]
    panels = ["plain" if not record.spec.body.residual else "ResNet" for record in records]  # as the paper's Fig. 6
    png = curves_png(list(zip(labels(records), (record.history for record in records), strict=True)), title=title,
                     panels=panels if len(set(panels)) > 1 else None)
    write_atomic(plot, png, replace=force)
    if markdown:
        typer.echo(compare_markdown(records), nl=False)
    else:
        console = Console()
        for table in compare_table(records):
            console.print(table)
    typer.echo(f"wrote {plot}", err=markdown)
