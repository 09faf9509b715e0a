"""`archgen schema`: print the JSON Schema of a spec file (editors validate specs with it as people type)."""

from __future__ import annotations

import typer

from archgen.cli.app import app


@app.command()
def schema() -> None:
    """Print the JSON Schema (draft-07) of a spec file; archgen/schema/archgen.schema.json is a copy.

    Editors with taplo (Even Better TOML in VS Code) use it through this repository's .taplo.toml,
    or through a `#:schema path/to/archgen.schema.json` first line in any spec.
    """
    from archgen.spec.file_schema import spec_file_schema_text

    typer.echo(spec_file_schema_text(), nl=False)
