"""What a search space means for its base spec: field paths, points applied to the base's data, and the space's rules.

A point is data (`{"body.width": 16}`) turned into spec data, never a module. No torch, no Optuna.
"""

from __future__ import annotations

import copy
import itertools
import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from archgen.errors import SpecError
from archgen.spec import fields
from archgen.spec.fields import ALL, Loc
from archgen.spec.messages import did_you_mean, rule_message
from archgen.spec.rules import RuleViolation
from archgen.spec.schema import NetSpec
from archgen.spec.search_space import Choice, Param, SearchSpace

Point = Mapping[str, Choice]

# Fields a search may not vary: they name the network, hold the space, or come from the data.
FIXED_FIELDS = ("name", "description", "reference", "depth", "search", "input")
# Range ends and choices of every parameter combined; enough for the usual handful of parameters.
MAX_CORNERS = 256
# Points of a grid search, every one listed up front (Optuna's GridSampler); a million is already years of training.
MAX_GRID_POINTS = 1_000_000


@dataclass(frozen=True)
class FieldRef:
    """A resolved spec path: its parts, the scalar kind it holds, and the annotation that validates a value."""

    parts: tuple[str, ...]
    kind: str  # "int" | "float" | "bool" | "str" | "literal"
    annotation: Any

    @property
    def numeric(self) -> bool:
        return self.kind in {"int", "float"}


class PathError(ValueError):
    """A search path that names no field of a spec."""


def resolve(path: str) -> FieldRef:
    """The scalar field `path` names in NetSpec ("body.depths.0", "body.depths.*", "train.lr")."""
    parts = tuple(path.split("."))
    if not path or any(not part for part in parts):
        raise PathError(f"{path!r} is not a field path (write it like 'body.width' or 'body.depths.0')")
    if parts[0] in FIXED_FIELDS:
        raise PathError(f"{parts[0]!r} cannot vary in a search (fixed: {', '.join(FIXED_FIELDS)})")
    annotation: Any = NetSpec
    for index, part in enumerate(parts):
        below = fields.child(annotation, part)
        if below is None:
            raise PathError(_no_field(fields.bare(annotation), parts[:index], part))
        annotation = below
    inner = fields.bare(annotation)
    if fields.is_table(inner) or fields.is_array(inner):
        example = f"{path}.0' or '{path}.*" if fields.is_array(inner) else f"{path}.<field>"
        raise PathError(f"{path!r} is a table or array; vary one of its values, e.g. '{example}'")
    return FieldRef(parts=parts, kind=fields.scalar_kind(annotation), annotation=fields.required(annotation))


def _no_field(inner: Any, parent: tuple[str, ...], part: str) -> str:
    """Why `part` names nothing below `parent` (whose type is `inner`)."""
    where = ".".join(parent) or "the spec"
    if fields.is_table(inner):
        names = list(inner.model_fields)
        guess = did_you_mean(part, names, prefix="".join(f"{name}." for name in parent))
        return f"{where} has no field {part!r}{guess} (fields: {', '.join(names)})"
    if fields.is_array(inner):
        return f"{where} is an array: index it with a number or '*', got {part!r}"
    return f"{where} is a single value, it has no field {part!r}"


def field_error(ref: FieldRef, value: Choice) -> str | None:
    """Why `value` can never be held by the field, or None if it can."""
    value = _as_float(value) if ref.kind == "float" else value
    try:
        TypeAdapter(ref.annotation).validate_python(value, strict=True)
    except ValidationError as error:
        detail = error.errors()[0]
        rule = rule_message(detail, at=ref.parts, got=False)  # the value opens the message
        if detail["type"] == "literal_error":
            return f"{value!r} is not a {'.'.join(ref.parts)} value: {rule}"
        return f"{value!r} is not a valid {'.'.join(ref.parts)}: {rule}"
    return None


def _as_float(value: Choice) -> Choice:
    """An integer written for a float field, as a float; one beyond any float stays an int, which the field refuses."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _FLOAT_MAX_INT:
        return float(value)
    return value


_FLOAT_MAX_INT = int(sys.float_info.max)
# More digits than any array's length has; int() refuses text of over 4300 digits.
_MAX_INDEX_DIGITS = 18


# --- points -----------------------------------------------------------------------------------------


def base_data(spec: NetSpec) -> dict[str, Any]:
    """The spec as plain data without its search table: what every trial's point is applied to."""
    return spec.model_dump(mode="json", exclude_none=True, exclude={"search"})


def apply_point(base: Mapping[str, Any], point: Point, *, name: str | None = None) -> dict[str, Any]:
    """Spec data: `base` with each path of `point` set; `*` sets every entry of an array.

    The point is a different network: it drops the base's declared depth and paper reference.
    Raises PathError where a path indexes past the base's arrays.
    """
    data = copy.deepcopy(dict(base))
    for key in ("depth", "reference"):
        data.pop(key, None)
    if name is not None:
        data["name"] = name
    for path, value in point.items():
        ref = resolve(path)
        value = _as_float(value) if ref.kind == "float" else value
        _set(data, ref.parts, value, path)
    return data


def _set(node: Any, parts: tuple[str, ...], value: Any, path: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        if head != ALL and (len(head) > _MAX_INDEX_DIGITS or int(head) >= len(node)):
            raise PathError(f"{path!r}: the base spec has {len(node)} entries there, so index {head} does not exist")
        indices = range(len(node)) if head == ALL else [int(head)]
        for index in indices:
            if rest:
                _set(node[index], rest, value, path)
            else:
                node[index] = value
        return
    if not rest:
        node[head] = value
        return
    child = node.setdefault(head, None if fields.is_index(rest[0]) else {})
    if child is None:
        where = ".".join(path.split(".")[: len(path.split(".")) - len(rest)])
        raise PathError(f"{path!r}: the base spec does not write {where}, so it has no entries to vary")
    _set(child, rest, value, path)


def corner_points(space: SearchSpace) -> tuple[list[dict[str, Choice]], bool]:
    """Every combination of range ends and choices (capped at MAX_CORNERS), and whether that is all of them.

    Depth and width only ever add parameters and MACs, so the cheapest point of a space is one of these.
    """
    paths = list(space.params)
    combos = itertools.product(*(space.params[path].ends() for path in paths))
    points = [dict(zip(paths, combo, strict=True)) for combo in itertools.islice(combos, MAX_CORNERS + 1)]
    return points[:MAX_CORNERS], len(points) <= MAX_CORNERS


def valid_points(spec: NetSpec, points: list[dict[str, Choice]]) -> Iterator[NetSpec | str]:
    """Each point as the valid spec it makes, or why it makes none, one at a time: a caller stops at what it needs
    (validating a spec file makes each point a spec, by far the largest part of `archgen validate`'s time)."""
    from archgen.spec.loader import parse_spec  # the loader runs the rules, which run this module's checks

    base = base_data(spec)
    for point in points:
        try:
            yield parse_spec(apply_point(base, point))
        except (SpecError, PathError) as error:
            yield f"{describe(point)}: {error.problems[0] if isinstance(error, SpecError) else error}"


def describe(point: Point) -> str:
    return ", ".join(f"{path}={value!r}" for path, value in point.items())


# --- the space's rules ---------------------------------------------------------------------------------


def check_search(spec: NetSpec) -> list[RuleViolation]:
    """Every way `spec.search` is wrong for its base: unknown fields, empty ranges, bad choices, no valid point."""
    space = spec.search
    if space is None:
        return []
    violations = [*_check_settings(space)]
    base = base_data(spec)
    for path, param in space.params.items():
        violations += [(("search", "params", path, *loc), message) for loc, message in _check_param(path, param, base)]
    violations += _check_overlaps(space)
    violations += _check_extras(spec, space)
    if violations:
        return violations
    points, _ = corner_points(space)
    made = valid_points(spec, points)
    reasons = [reason for reason in itertools.takewhile(lambda point: isinstance(point, str), made)]
    if len(reasons) == len(points):  # not one point made a valid spec
        return [(("search", "params"), f"no point of this space is a valid spec; e.g. {reasons[0]}")]
    from archgen.spec.search_starts import check_enqueue  # reads the enqueued specs, which it maps onto the space

    return check_enqueue(spec)


def _check_settings(space: SearchSpace) -> Iterator[RuleViolation]:
    if len(set(space.objectives)) != len(space.objectives):
        yield ("search", "objectives"), f"lists an objective twice: {list(space.objectives)}"
    if "accuracy" not in space.objectives:
        yield ("search", "objectives"), f"must include 'accuracy' (the others are costs), got {list(space.objectives)}"
    if space.pruner == "hyperband" and len(space.objectives) > 1:
        yield (
            ("search", "pruner"),
            "hyperband prunes one objective only; with several objectives use 'pareto', 'median' or 'none'",
        )
    if space.pruner == "pareto" and len(space.objectives) == 1:
        yield ("search", "pruner"), ("pareto prunes a trial that others dominate in accuracy and cost, but accuracy is "
                                     "the only objective; use 'median' or 'hyperband'")
    if space.resolved_sampler == "grid":
        continuous = [path for path, param in space.params.items() if param.count() is None]
        size = space.size()
        if continuous:
            yield ("search", "sampler"), f"grid needs finite ranges; give {continuous[0]} a step or choices"
        elif size is not None and size > MAX_GRID_POINTS:
            yield ("search", "sampler"), (
                f"the grid has {_count(size)} points, more than archgen lists (at most {MAX_GRID_POINTS:,}); "
                "narrow the ranges or widen their steps"
            )


def _check_extras(spec: NetSpec, space: SearchSpace) -> Iterator[RuleViolation]:
    """grow needs nets that differ in depth; a plain twin needs a residual net to be the twin of."""
    if space.grow and not any(_is_depth(path) and (param.count() or 2) > 1 for path, param in space.params.items()):
        yield ("search", "grow"), ("grows deeper trials from shallower ones, but this space varies no depth "
                                   "(vary body.depths.N or body.stages.N.depth)")
    if space.plain_twin and not spec.body.residual and "body.residual" not in space.params:
        yield ("search", "plain_twin"), ("every net of this space is plain already (body.residual = false, not "
                                         "searched): there is no residual net to train a plain twin of")


def _is_depth(path: str) -> bool:
    parts = path.split(".")
    return parts[:2] == ["body", "depths"] or (parts[:2] == ["body", "stages"] and parts[-1] == "depth")


def _check_param(path: str, param: Param, base: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
    try:
        ref = resolve(path)
        apply_point(base, {path: param.ends()[0]} if param.ends() else {})
    except PathError as error:
        yield (), str(error)
        return
    if param.choices is not None:
        yield from _check_choices(ref, param)
    else:
        yield from _check_range(ref, param)


def _check_choices(ref: FieldRef, param: Param) -> Iterator[tuple[Loc, str]]:
    assert param.choices is not None
    for key in ("low", "high", "step"):
        if getattr(param, key) is not None or param.log:
            yield (
                (key if key != "step" or not param.log else "log",),
                "give either choices or a range (low, high), not both",
            )
            return
    seen: list[Choice] = []
    for index, value in enumerate(param.choices):
        if value in seen and type(value) in {type(item) for item in seen}:
            yield ("choices", index), f"{value!r} is listed twice"
        seen.append(value)
        message = field_error(ref, value)
        if message:
            yield ("choices", index), message


def _check_range(ref: FieldRef, param: Param) -> Iterator[tuple[Loc, str]]:
    if param.low is None or param.high is None:
        missing = "low" if param.low is None else "high"
        yield (missing,), "a range needs low and high (or write choices = [...])"
        return
    if not ref.numeric:
        yield (), f"{'.'.join(ref.parts)} takes a {ref.kind} value, not a number: list the values as choices = [...]"
        return
    if ref.kind == "int" and any(isinstance(v, float) for v in (param.low, param.high, param.step)):
        yield (), f"{'.'.join(ref.parts)} is an integer field: low, high and step must be integers"
        return
    if param.low > param.high:
        yield ("high",), f"empty range: high {param.high} is below low {param.low}"
        return
    for key in ("low", "high"):
        message = field_error(ref, getattr(param, key))
        if message:
            yield (key,), message
    yield from _check_step(param)


def _check_step(param: Param) -> Iterator[tuple[Loc, str]]:
    assert param.low is not None and param.high is not None
    if param.log and param.low <= 0:
        yield ("log",), f"a log range needs low > 0, got {param.low}"
    if param.step is None:
        return
    if param.log:
        yield ("step",), "a log range cannot also have a step"
    elif param.step <= 0:
        yield ("step",), f"must be positive, got {param.step}"
    elif all(isinstance(value, int) for value in (param.low, param.high, param.step)):
        if (param.high - param.low) % param.step:  # exact: TOML integers may be beyond any float
            yield ("high",), f"high {param.high} is not low {param.low} plus a multiple of step {param.step}"
    else:
        try:
            count = (param.high - param.low) / param.step
        except OverflowError:
            count = math.inf
        if not math.isfinite(count):
            yield ("step",), f"step {param.step} is too small to count from {param.low} to {param.high}"
        elif not math.isclose(count, round(count), abs_tol=1e-9):
            yield ("high",), f"high {param.high} is not low {param.low} plus a multiple of step {param.step}"


def _count(size: int) -> str:
    return f"{size:,}" if size < 10**30 else "more than 10^30"


def _check_overlaps(space: SearchSpace) -> Iterator[RuleViolation]:
    paths = list(space.params)
    for first, second in itertools.combinations(paths, 2):
        a, b = first.split("."), second.split(".")
        if len(a) == len(b) and all(x == y or ALL in (x, y) for x, y in zip(a, b, strict=True)):
            yield ("search", "params", second), f"sets the same field as {first!r}; keep one of them"
