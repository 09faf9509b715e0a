"""The typer application every command registers on, the options commands share (one meaning per flag), and
the exit codes. Imports nothing heavy: a command imports the library inside its function, after its checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from typer.models import CommandFunctionType

from archgen.cli.help import Command, Group

EXIT_CODES = """\b
Exit codes:
  0      done (validate: every spec is valid)
  1      a problem with the input or the environment, in one line on stderr
         (validate: a spec is invalid); --debug shows the traceback
  2      a usage error: an unknown option, a missing argument, a value of the wrong kind
  128+N  stopped by signal N, its work kept: 130 for Ctrl-C, 143 for SIGTERM
         (archgen train --resume RUN, or the same archgen search, goes on)"""


class Archgen(typer.Typer):
    """A typer app whose commands print help as `archgen.cli.help` lays it out."""

    def command(self, name: str | None = None, *, cls: type[typer.core.TyperCommand] | None = None,
                **settings: Any) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=cls or Command, **settings)


app = Archgen(
    name="archgen",
    help="Describe, analyse, train and search residual convolutional networks from TOML specs.",
    epilog=EXIT_CODES,
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)

# Closed sets the commands offer, equal to the library's own (tests/cli/test_flags.py): written here so that
# parsing the command line never imports the spec language.
FamilyName = Literal["cifar", "preact", "imagenet", "torchvision"]
Precision = Literal["float32", "bf16"]
ProblemFormat = Literal["text", "json", "github"]

# Arguments and options more than one command takes, defined once: one meaning per flag.
SpecArgument = Annotated[str, typer.Argument(
    metavar="SPEC", help="A spec file, or a shipped spec by name (resnet34, resnet20, ...).", show_default=False)]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", show_default=False,
    help="Set a spec field, the value in TOML: --set train.weight_decay=5e-4 --set body.depths=[3,3,3] "
    "(repeat for several; docs/spec-reference.md lists every key).")]
PlainOption = Annotated[bool, typer.Option(
    "--plain/--no-plain", help="The plain counterpart: the same layers without shortcuts.")]
ForceOption = Annotated[bool, typer.Option("--force/--no-force", help="Replace the output file if it exists.")]
JsonOption = Annotated[bool, typer.Option(
    "--json/--no-json", help="Print the result as one JSON document on stdout, and nothing else there.")]
DeviceOption = Annotated[str, typer.Option(
    "--device", metavar="DEVICE", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N or mps.")]
PlotOption = Annotated[Path | None, typer.Option(
    "--plot", "-p", metavar="FILE", dir_okay=False, show_default=False, help="Write the plot to this PNG file.")]


def version(show: bool) -> None:
    if show:
        from archgen import __version__

        typer.echo(f"archgen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug/--no-debug", help="Show the full traceback of any error.")] = False,
    show_version: Annotated[bool, typer.Option(
        "--version", callback=version, is_eager=True, help="Print archgen's version and exit.")] = False,
) -> None:
    """Describe, analyse, train and search residual convolutional networks from TOML specs."""
