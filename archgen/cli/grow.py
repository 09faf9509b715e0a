"""`archgen grow`: a deeper net that starts as a trained shallower one (copied blocks, identity blocks added),
checked to compute what it computes, written as a run folder that `archgen train --resume` trains on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import SetOption, app


@app.command()
def grow(
    run: Annotated[Path, typer.Argument(
        metavar="RUN", file_okay=False, show_default=False, help="A finished run folder of the shallower net.")],
    spec: Annotated[str, typer.Option(
        "--spec", "-s", metavar="SPEC", show_default=False, help="The deeper net: a spec file or shipped name.")],
    epochs: Annotated[int | None, typer.Option(
        "--epochs", "-e", metavar="N", min=1, show_default=False, help="Epochs to train it: --set train.epochs=N.")
    ] = None,
    lr: Annotated[float | None, typer.Option(
        "--lr", metavar="LR", show_default=False, help="Peak learning rate: --set train.lr=LR.")] = None,
    set: SetOption = None,
    out: Annotated[Path, typer.Option(
        "--out", "-o", metavar="DIR", file_okay=False, help="Folder the grown run folder is created in.")
    ] = Path("runs"),
) -> None:
    """Grow RUN into the deeper --spec (same stem, widths and blocks; more blocks per stage) by construction.

    Blocks at the same positions copy RUN's weights, the stem and head too; each extra block starts as the
    identity (its residual branch's last BN, or a pre-activation block's last conv, at zero). Before anything is
    written the grown net is run on the whole training split and must give RUN's outputs. The run folder's
    first checkpoint holds it: continue with `archgen train --resume FOLDER`.
    """
    from archgen.cli.inputs import NOT_TRAINED, spec_with
    from archgen.report.outside import printable

    deeper = spec_with(spec, set, unused=NOT_TRAINED,
                       aliases=[("train.epochs", epochs, "--epochs"), ("train.lr", lr, "--lr")])
    from archgen.training.grow import grow as grown

    result = grown(run, deeper, out=out)
    shown = printable(str(result.folder))
    typer.echo(f"grew {printable(str(run))} into {shown}: {result.copied} blocks copied, {result.added} added as "
               "the identity")
    typer.echo(f"checked on {result.images:,} training images: the same outputs (largest difference "
               f"{result.max_difference:.1e}), so the same training error by construction: {result.train_error:.2%}")
    typer.echo(f"train it on: archgen train --resume {shown}")
