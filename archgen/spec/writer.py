"""A spec back to TOML: short files (non-default fields only) that `read_spec` reads to an equal NetSpec.

Used by `archgen new`, run folders and search winners. Knows the schema, not where the text goes.
"""

from __future__ import annotations

import textwrap
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

import tomli_w
from pydantic import BaseModel

from archgen.spec.schema import NetSpec, Stage

COMMENT_WIDTH = 100

# Written even when they hold the default: a reader should not have to know these defaults.
_ALWAYS_WRITTEN = {("input", "channels"), ("body", "shortcut")}


def dump_spec(spec: NetSpec, *, comments: bool = False, defaults: bool = False, header: str | None = None) -> str:
    """`spec` as TOML text.

    comments: put each field's documentation above it (what `archgen new` writes).
    defaults: write every field, defaults included (a record that stays true if defaults change).
    header: text for a comment block at the top (one `#` line per line of text).
    The body keeps the form the spec was written in: `depths` + `width`, or `[[body.stages]]`.
    """
    lines = [*_comment(header), ""] if header else []
    lines += _table_lines(_data(spec, defaults=defaults), NetSpec, (), comments=comments)
    return "\n".join(lines).strip("\n") + "\n"


def _data(spec: NetSpec, *, defaults: bool) -> dict[str, Any]:
    data = spec.model_dump(mode="python", exclude_defaults=not defaults, exclude_none=True)
    for table, key in _ALWAYS_WRITTEN:
        data.setdefault(table, {}).setdefault(key, getattr(getattr(spec, table), key))
    return data


def _table_lines(
    data: Mapping[str, Any], model: type[BaseModel], loc: tuple[str, ...], *, comments: bool
) -> Iterator[str]:
    """Scalars and arrays first, then sub-tables, then arrays of tables, as TOML requires."""
    data = {key: data[key] for key in model.model_fields if key in data}  # the schema's order
    scalars = {key: value for key, value in data.items() if not _is_table(value) and not _is_table_array(value)}
    tables = {key: value for key, value in data.items() if _is_table(value) and not _is_inline_map(model, key)}
    maps = {key: value for key, value in data.items() if _is_table(value) and _is_inline_map(model, key)}
    arrays = {key: value for key, value in data.items() if _is_table_array(value)}
    for key, value in scalars.items():
        if comments:
            yield from _comment(_doc(model, key))
        yield f"{_key(key)} = {_literal(value)}"
    for key, value in tables.items():
        child = _field_model(model, key)
        yield ""
        if comments:
            yield from _comment(_doc(model, key))
        yield f"[{'.'.join(map(_key, (*loc, key)))}]"
        yield from _table_lines(value, child, (*loc, key), comments=comments)
    for key, entries in maps.items():  # search.params: one inline table per spec path
        yield ""
        yield f"[{'.'.join(map(_key, (*loc, key)))}]"
        for name, entry in entries.items():
            yield f"{_key(name)} = {{ {', '.join(f'{_key(k)} = {_literal(v)}' for k, v in entry.items())} }}"
    for key, items in arrays.items():
        child = _field_model(model, key)
        for index, item in enumerate(items):
            yield ""
            if comments and index == 0:
                yield from _comment(_doc(model, key))
            yield f"[[{'.'.join(map(_key, (*loc, key)))}]]"
            yield from _table_lines(item, child, (*loc, key), comments=False)


def _is_table(value: object) -> bool:
    return isinstance(value, Mapping)


def _is_inline_map(model: type[BaseModel], key: str) -> bool:
    """A field holding a dict of tables (search.params), written as inline tables under one header."""
    annotation = model.model_fields[key].annotation
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return typing.get_origin(annotation) is dict


def _is_table_array(value: object) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _literal(value: object) -> str:
    """One TOML value; arrays of scalars stay on one line (`depths = [3, 4, 6, 3]`)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = "):].rstrip("\n")


def _key(key: str) -> str:
    return tomli_w.dumps({key: 0}).rpartition(" = ")[0]


def _field_model(model: type[BaseModel], key: str) -> type[BaseModel]:
    """The model class of a sub-table or of the items of an array of tables."""
    if key == "stages":  # tuple[Stage, ...] | None: the language's one array of tables
        return Stage
    annotation = model.model_fields[key].annotation
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:  # `search: SearchSpace | None`
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    assert isinstance(annotation, type) and issubclass(annotation, BaseModel), f"{key} is not a table"
    return annotation


def _doc(model: type[BaseModel], key: str) -> str:
    field = model.model_fields.get(key)
    return "" if field is None else field.description or ""


def _comment(text: str) -> Iterator[str]:
    """`# ` lines wrapped at COMMENT_WIDTH (long words, such as paths, are never broken); a field's docstring is
    wrapped as one paragraph, however its source lines break."""
    for paragraph in text.split("\n\n"):
        paragraph = " ".join(line.strip() for line in paragraph.splitlines())
        lines = textwrap.wrap(paragraph, COMMENT_WIDTH - 2, break_long_words=False, break_on_hyphens=False)
        yield from (f"# {line}" for line in lines or [""])
