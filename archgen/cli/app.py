"""The typer application every command registers on, and the options commands share."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="archgen",
    help="Describe, analyse, train and search residual convolutional networks from TOML specs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of any error."),
) -> None:
    """Describe, analyse, train and search residual convolutional networks from TOML specs."""
