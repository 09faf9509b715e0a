"""The typer application every command registers on, and the options commands share."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="archgen",
    help="Describe, analyse, train and search residual convolutional networks from TOML specs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# Arguments and options more than one command takes, defined once.
SpecArgument = Annotated[str, typer.Argument(help="A spec file, or a shipped spec by name (resnet34, resnet20, ...).")]
PlainOption = Annotated[bool, typer.Option("--plain", help="The plain counterpart: the same layers without shortcuts.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")]


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of any error."),
) -> None:
    """Describe, analyse, train and search residual convolutional networks from TOML specs."""
