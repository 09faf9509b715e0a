"""The JSON Schema of a spec *file* (draft-07), for editors (taplo / Even Better TOML) and `archgen schema`.

NetSpec's own schema, adjusted to what a file may hold: an `extends` key, an optional `name` (it
defaults to the file's stem), and required keys enforced only in a file that extends nothing
(a variant writes just what it overrides). Field docs come from the models' attribute docstrings.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from archgen.spec.schema import NetSpec

DRAFT = "http://json-schema.org/draft-07/schema#"
_DEFS = "#/definitions/"

EXTENDS = {
    "type": "string",
    "minLength": 1,
    "description": (
        "A parent spec: a path relative to this file (resnet20.toml), or a shipped spec by name (resnet20). "
        "This file's keys override the parent's; name, description and reference are never inherited."
    ),
}


def spec_file_schema() -> dict[str, Any]:
    """The schema as a dict; `archgen schema` prints it and archgen/schema/archgen.schema.json holds a copy."""
    schema = NetSpec.model_json_schema(ref_template=_DEFS + "{model}")
    definitions = schema.pop("$defs", {})
    _drop_nullable(schema)
    _drop_nullable(definitions)
    required = _required_skeleton(schema, definitions)
    required["required"] = [key for key in required.get("required", []) if key != "name"]
    _strip_required(schema)
    _strip_required(definitions)
    return {
        "$schema": DRAFT,
        "title": "archgen spec",
        "description": schema["description"],
        "type": "object",
        "properties": {"extends": EXTENDS, **schema["properties"]},
        "additionalProperties": False,
        # a file that extends nothing must be complete; a variant writes only what it overrides
        "if": {"required": ["extends"]},
        "else": required,
        "definitions": definitions,
    }


def spec_file_schema_text() -> str:
    """The schema as the committed file holds it: 2-space indented JSON ending in a newline."""
    return json.dumps(spec_file_schema(), indent=2, ensure_ascii=False) + "\n"


def _drop_nullable(node: Any) -> None:
    """`anyOf: [X, {type: null}]` becomes X: TOML has no null, and editors read a plain type better."""
    if isinstance(node, list):
        for item in node:
            _drop_nullable(item)
    if not isinstance(node, dict):
        return
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            del node["anyOf"]
            node.update({key: value for key, value in kept[0].items() if key not in node})
        else:
            node["anyOf"] = kept
        if node.get("default", 0) is None:
            del node["default"]
    for value in node.values():
        _drop_nullable(value)


def _strip_required(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _strip_required(item)
    elif isinstance(node, dict):
        if isinstance(node.get("required"), list):
            del node["required"]
        for value in node.values():
            _strip_required(value)


def _required_skeleton(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Only the `required` lists of `node` and of the tables below it, in the same shape."""
    node = _resolve(node, definitions)
    skeleton: dict[str, Any] = {}
    if node.get("required"):
        skeleton["required"] = list(node["required"])
    properties = {}
    for key, child in node.get("properties", {}).items():
        inner = _required_skeleton(child, definitions)
        items = _required_skeleton(child["items"], definitions) if isinstance(child.get("items"), dict) else {}
        if items:
            inner["items"] = items
        if inner:
            properties[key] = inner
    if properties:
        skeleton["properties"] = properties
    return skeleton


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith(_DEFS):
        return copy.deepcopy(definitions[reference.removeprefix(_DEFS)])
    return node
