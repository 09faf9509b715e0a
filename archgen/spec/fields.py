"""One walk over NetSpec's annotations: the field at a location, its table's keys, its choices, its kind and bounds.

What the loader's messages and the search's field paths both read; knows nothing of files, values or messages.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from archgen.spec.schema import NetSpec

Loc = tuple[str | int, ...]
"""A place in a spec: table keys and array indices, as pydantic reports them (`("body", "stages", 0, "width")`);
a search path's parts are all strings, its indices written as digits or `*`."""

ALL = "*"  # a search path's index for every entry of an array


def annotation_at(loc: Loc) -> Any:
    """The annotation of the field at `loc` in NetSpec, bounds included; None where `loc` names no field."""
    annotation: Any = NetSpec
    for part in loc:
        annotation = child(annotation, part)
        if annotation is None:
            return None
    return annotation


def child(annotation: Any, part: str | int) -> Any:
    """One step down: a table's field by name or an array's entry by index; None where `part` is neither."""
    inner = bare(annotation)
    if is_table(inner):
        field = inner.model_fields.get(part) if isinstance(part, str) else None
        return None if field is None else _with_bounds(field)
    if is_array(inner) and is_index(part):
        return typing.get_args(inner)[0]
    return None


def field_names(loc: Loc) -> list[str]:
    """The keys the table at `loc` allows, in the schema's order; [] where `loc` is not a table."""
    inner = bare(annotation_at(loc))
    return list(inner.model_fields) if is_table(inner) else []


def literal_choices(loc: Loc) -> list[object]:
    """The values the field at `loc` is closed over ([] for an open field), through `| None` and Annotated."""
    literals = [leaf for leaf in _leaves(annotation_at(loc)) if typing.get_origin(leaf) is typing.Literal]
    return [choice for leaf in literals for choice in typing.get_args(leaf)]


def scalar_kind(annotation: Any) -> str:
    """"int", "float", "bool" or "str"; "literal" for a closed set of values (or a union: `bool | Literal[...]`)."""
    inner = bare(annotation)
    if typing.get_origin(inner) is typing.Literal:
        return "literal"
    return {bool: "bool", int: "int", float: "float", str: "str"}.get(inner, "literal")


def required(annotation: Any) -> Any:
    """The annotation without `| None` (bounds kept): what a value written in a file must be."""
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def bare(annotation: Any) -> Any:
    """The type under `| None` and Annotated: `Annotated[int, Field(ge=1)] | None` is int."""
    inner = required(annotation)
    while typing.get_origin(inner) is typing.Annotated:
        inner = typing.get_args(inner)[0]
    return inner


def is_table(inner: Any) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(inner, type) and issubclass(inner, BaseModel)


def is_array(inner: Any) -> bool:
    return typing.get_origin(inner) is tuple


def is_index(part: str | int) -> bool:
    """An array index: pydantic's int, or a search path's ASCII digits or `*` ('²' is a digit int() cannot read)."""
    return isinstance(part, int) or part == ALL or (part.isascii() and part.isdigit())


def _with_bounds(field: FieldInfo) -> Any:
    """The field's type with its bounds: pydantic moves a field's own `Annotated[int, Strict(), Field(ge=1)]`
    metadata out of `.annotation`, which alone would accept any int."""
    if not field.metadata:
        return field.annotation
    return typing.Annotated[(field.annotation, *field.metadata)]


def _leaves(annotation: Any) -> list[Any]:
    """The innermost types of an annotation, through unions and Annotated."""
    origin = typing.get_origin(annotation)
    if origin in {typing.Union, types.UnionType, typing.Annotated}:
        args = typing.get_args(annotation)
        return [leaf for arg in (args[:1] if origin is typing.Annotated else args) for leaf in _leaves(arg)]
    return [annotation]
