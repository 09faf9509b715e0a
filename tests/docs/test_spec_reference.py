"""docs/spec-reference.md is exactly what `archgen schema --format markdown` prints, so it cannot go stale."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from archgen.cli.app import app
from archgen.report.spec_reference import spec_reference_markdown
from archgen.spec.file_schema import spec_file_schema
from archgen.spec.schema import NetSpec

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "spec-reference.md"


def test_committed_reference_is_the_generated_one() -> None:
    result = CliRunner().invoke(app, ["schema", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert REFERENCE.read_text(encoding="utf-8") == result.output, (
        "docs/spec-reference.md is stale: run `archgen schema --format markdown > docs/spec-reference.md`"
    )


def test_every_field_of_every_table_has_a_row_with_its_description() -> None:
    text = spec_reference_markdown(spec_file_schema())
    models = [NetSpec, *(field.annotation for field in NetSpec.model_fields.values())]
    for model in models:
        for name, field in getattr(model, "model_fields", {}).items():
            rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
            assert rows, f"no row for {model.__name__}.{name}"
            if field.description:
                assert any(" ".join(field.description.split()) in row for row in rows), f"{name}: description lost"


def test_bounds_and_choices_are_shown() -> None:
    text = spec_reference_markdown(spec_file_schema())
    assert '| `shortcut` | string | `"B"` | `"A"`, `"B"`, `"C"` |' in text
    assert "| `size` | integer | **required** | 1 ≤ x ≤ 4096 |" in text
    assert "| `dropout` | float | `0.0` | 0.0 ≤ x < 1.0 |" in text
    assert "## `[[body.stages]]`" in text and '## `[search.params."PATH"]`' in text


def test_json_stays_the_default_format() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0 and result.output.startswith("{\n")
