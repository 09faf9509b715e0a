"""`archgen new`: write a commented spec of a paper family at a given depth (to a file or stdout)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archgen.cli.app import FamilyName, ForceOption, PlainOption, app


@app.command()
def new(
    family: Annotated[FamilyName, typer.Option("--family", help="The paper family (listed above).")],
    depth: Annotated[int, typer.Option(
        "--depth", metavar="N", help="Layers with weights, as the paper counts them.")],
    plain: PlainOption = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="FILE", dir_okay=False, show_default=False,
        help="File to write (default: stdout).")] = None,
    force: ForceOption = False,
) -> None:
    """Write a commented spec from a family and a depth: --family cifar --depth 110 is 6n+2 with n = 18.

    cifar: CIFAR-10 ResNet, basic blocks, 16/32/64 filters, option A; depth 6n+2 (20, 32, 44, 56, 110, 1202).

    preact: CIFAR-10 pre-activation bottleneck ResNet, option B; depth 9n+2 (164, 1001).

    imagenet: ImageNet ResNet as the paper (v1: stride in the bottleneck's 1x1); depth 18, 34, 50, 101, 152, 200.

    torchvision: ImageNet ResNet in torchvision/timm layout (v1.5: stride in the 3x3); same depths.

    Refuses depths the family cannot make and names the nearest ones it can.
    """
    from archgen.errors import SpecError, printable
    from archgen.files import refuse_existing, write_atomic
    from archgen.spec.families import new_spec
    from archgen.spec.writer import dump_spec

    if out is not None:
        refuse_existing(out, force=force)  # before any work; the write checks again
    try:
        made = new_spec(family, depth, plain=plain)
    except SpecError as error:
        raise typer.BadParameter(error.problems[0].message, param_hint="--depth") from None
    command = f"archgen new --family {family} --depth {depth}{' --plain' if plain else ''}"
    text = dump_spec(made.spec, comments=True, header=f"{made.header}\nWritten by `{command}`.")
    if out is None:
        typer.echo(text, nl=False)
        return
    write_atomic(out, text.encode(), replace=force)
    shown = printable(str(out))  # the user's file name, shown as it is: escapes stay text
    typer.echo(f"wrote {shown} ({made.spec.name}); see its numbers with `archgen build {shown}`", err=True)
