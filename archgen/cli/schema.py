"""`archgen schema`: print the JSON Schema of a spec file (editors validate specs with it as people type).

`--format markdown` prints the same schema as the field reference docs/spec-reference.md holds.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from archgen.cli.app import app

SchemaFormat = Literal["json", "markdown"]


@app.command()
def schema(
    format: Annotated[
        SchemaFormat,
        typer.Option("--format", "-f", help="json: the JSON Schema; markdown: a reference table per TOML table."),
    ] = "json",
) -> None:
    """Print the JSON Schema (draft-07) of a spec file; archgen/schema/archgen.schema.json is a copy.

    Editors with taplo (Even Better TOML in VS Code) use it through this repository's .taplo.toml,
    or through a `#:schema path/to/archgen.schema.json` first line in any spec.
    """
    from archgen.spec.file_schema import spec_file_schema, spec_file_schema_text

    if format == "markdown":
        from archgen.report.spec_reference import spec_reference_markdown

        typer.echo(spec_reference_markdown(spec_file_schema()), nl=False)
        return
    typer.echo(spec_file_schema_text(), nl=False)
