"""`archgen schema`: the committed JSON Schema is current, and it accepts every shipped spec file as written."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import tomli
from typer.testing import CliRunner

from archgen.cli.app import app
from archgen.spec.library import shipped_specs

COMMITTED = Path(__file__).resolve().parents[2] / "archgen" / "schema" / "archgen.schema.json"
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "invalid"
runner = CliRunner()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    from archgen.spec.file_schema import spec_file_schema

    schema = spec_file_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_committed_schema_is_what_archgen_schema_prints() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.output == COMMITTED.read_text(encoding="utf-8"), (
        "archgen/schema/archgen.schema.json is stale: run `archgen schema > archgen/schema/archgen.schema.json`"
    )


def test_field_docs_come_from_attribute_docstrings(validator: jsonschema.Draft7Validator) -> None:
    body = validator.schema["definitions"]["Body"]["properties"]
    assert body["residual"]["description"] == "false: the plain network, with exactly the same layers and no shortcuts."
    assert set(body["block"]["enum"]) == {"basic", "bottleneck", "preact_basic", "preact_bottleneck"}


@pytest.mark.parametrize("name", sorted(shipped_specs()))
def test_every_shipped_spec_file_passes(name: str, validator: jsonschema.Draft7Validator) -> None:
    data = tomli.loads(shipped_specs()[name].read_text(encoding="utf-8"))
    assert [error.message for error in validator.iter_errors(data)] == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("unknown_key", "'dpeths' was unexpected"),
        ("bad_enum", "'bottelneck' is not one of"),
        ("string_for_int", "'32' is not of type 'integer'"),
        ("bool_for_int", "True is not of type 'integer'"),
        ("absurd_width", "100000 is greater than the maximum of 8192"),
        ("missing_tables", "'input' is a required property"),
        ("stage_missing_stride", "'stride' is a required property"),
        ("zero_and_negative", "0 is less than the minimum of 1"),
    ],
)
def test_editors_flag_field_errors(name: str, fragment: str, validator: jsonschema.Draft7Validator) -> None:
    data = tomli.loads((CORPUS / f"{name}.toml").read_text(encoding="utf-8"))
    messages = [error.message for error in validator.iter_errors(data)]
    assert any(fragment in message for message in messages), messages


def test_a_variant_need_not_repeat_its_parent(validator: jsonschema.Draft7Validator) -> None:
    variant = {"extends": "resnet34", "name": "plain", "body": {"residual": False}}
    assert list(validator.iter_errors(variant)) == []
    assert list(validator.iter_errors({"name": "alone", "body": {"residual": False}}))  # no parent: incomplete
