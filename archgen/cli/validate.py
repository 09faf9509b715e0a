"""`archgen validate`: check spec files and folders; exit 1 when any is invalid. Never imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archgen.cli.app import ProblemFormat, SetOption, app

if TYPE_CHECKING:
    from archgen.spec import NetSpec
    from archgen.spec.loader import Check
    from archgen.spec.rules import RuleViolation


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(
        metavar="PATH", help="Spec files, shipped spec names, or folders (searched recursively for *.toml).")],
    set: SetOption = None,
    format: Annotated[ProblemFormat, typer.Option(
        "--format", "-f", help="text: path:line: field: message per problem; json; github: annotations.")] = "text",
) -> None:
    """Check specs: syntax, the language's rules and archgen's size limits.

    Prints one line per problem (path:line: field.path: message) and a summary, all on stdout. With --set, each
    spec is checked with those fields set, as train, build and search would use it. Exit 0 when every spec is
    valid, 1 when any is not.
    """
    from archgen.analysis import SPEC_CHECKS
    from archgen.report.problems import render
    from archgen.validation import validate_paths

    checks = SPEC_CHECKS if not set else (*SPEC_CHECKS, _overridden(set))
    report = validate_paths(paths, checks=checks)
    typer.echo(render(report, format=format), nl=False)
    if not report.valid:
        raise typer.Exit(1)


def _overridden(sets: list[str]) -> Check:
    """A check that a spec, with the --set fields applied, is still valid; its problems name the --set."""
    from archgen.analysis import SPEC_CHECKS
    from archgen.errors import SpecError
    from archgen.spec.overrides import apply_overrides, parse_override

    overrides = [parse_override(text) for text in sets]  # a malformed --set is refused before any file is read

    def check(spec: NetSpec) -> list[RuleViolation]:
        try:
            apply_overrides(spec, overrides, checks=SPEC_CHECKS)
        except SpecError as error:
            return [((), str(problem)) for problem in error.problems]
        return []

    return check
