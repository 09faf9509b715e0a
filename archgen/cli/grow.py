"""`archgen grow`: a deeper net that starts as a trained shallower one (copied blocks, identity blocks added),
checked to compute what it computes, written as a run folder that `archgen train --resume` trains on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import app


@app.command()
def grow(
    run: Annotated[Path, typer.Argument(help="A finished run folder of the shallower net.", show_default=False)],
    spec: Annotated[str, typer.Option("--spec", "-s", help="The deeper net: a spec file or shipped name.",
                                      show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder the grown run folder is created in.")] = Path("runs"),
    epochs: Annotated[int | None, typer.Option("--epochs", "-e", help="Epochs to train it (default: the spec's).",
                                               min=1)] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (default: the spec's).")] = None,
) -> None:
    """Grow RUN into the deeper --spec (same stem, widths and blocks; more blocks per stage) by construction.

    Blocks at the same positions copy RUN's weights, the stem and head too; each extra block starts as the
    identity (its residual branch's last BN, or a pre-activation block's last conv, at zero). Before anything is
    written the grown net is run on the whole training split and must give RUN's outputs. The run folder's
    first checkpoint holds it: continue with `archgen train --resume FOLDER`.
    """
    from archgen import load_spec
    from archgen.training import with_recipe
    from archgen.training.grow import grow as grown

    result = grown(run, with_recipe(load_spec(spec), epochs=epochs, lr=lr), out=out)
    typer.echo(f"grew {run} into {result.folder}: {result.copied} blocks copied, {result.added} added as the identity")
    typer.echo(f"checked on {result.images:,} training images: the same outputs (largest difference "
               f"{result.max_difference:.1e}), so the same training error by construction: {result.train_error:.2%}")
    typer.echo(f"train it on: archgen train --resume {result.folder}")
