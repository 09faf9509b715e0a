"""Known networks as points of a search space: `[search] enqueue` (specs the search trains first) and the trials of
another study imported into this one (`archgen search --from-study`), each mapped back to the values of the space's
paths without building anything, or refused with why: outside the space, or trained differently.

No torch, no Optuna: specs and points in, points or reasons out. Enqueued files are read as `train.init` is,
relative to the working folder.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from archgen.errors import SpecError
from archgen.spec.fields import ALL
from archgen.spec.rules import RuleViolation
from archgen.spec.schema import NetSpec
from archgen.spec.search_points import PathError, apply_point, base_data, resolve
from archgen.spec.search_space import Choice, Param, SearchSpace

SHOWN = 3  # differences named in one reason
# What a trial's recipe may differ in from its base's: the search sets the seed and the epochs of every trial, and
# where a net starts (grown weights) or how its data are decoded is no recipe.
FREE_TRAIN_FIELDS = ("seed", "epochs", "init", "workers")


@dataclass(frozen=True)
class Miss:
    """Why a network is no point of a space: `outside` (no values of its paths make it), `recipe` (it is one of the
    space's networks, trained with another recipe), or `unreadable` (no spec to begin with)."""

    kind: Literal["outside", "recipe", "unreadable"]
    reason: str


def point_of(base: NetSpec, network: NetSpec) -> dict[str, Choice] | Miss:
    """The point of `base`'s search space whose trial trains `network` as it is, or why there is none."""
    space = base.search
    assert space is not None
    data = network.model_dump(mode="json", exclude_none=True)
    point: dict[str, Choice] = {}
    for path, param in space.params.items():
        value = _value_at(data, path)
        if isinstance(value, Miss):
            return value
        miss = _outside_param(path, param, value)
        if miss is not None:
            return Miss("outside", miss)
        point[path] = value
    try:
        made = _parse(apply_point(base_data(base), point))
    except (SpecError, PathError) as error:  # every value is the space's, but together they break a rule
        return Miss("outside", f"its values make no valid spec of this space: {_first(error)}")
    changes = list(_changes(_network(made), _network(network)))
    if changes:
        return Miss("outside", f"it differs from the space's network in {_shown(changes)}")
    changes = list(_changes(recipe(made, space), recipe(network, space), "train."))
    if changes:
        return Miss("recipe", f"it changes the recipe: {_shown(changes)}")
    return point


def recipe(spec: NetSpec, space: SearchSpace) -> dict[str, Any]:
    """What a trial of `space` trains with but its point: the train table but the searched fields and those the
    search sets for every trial."""
    searched = {path.split(".", 1)[1] for path in space.params if path.startswith("train.")}
    return spec.train.model_dump(mode="json", exclude={*FREE_TRAIN_FIELDS, *searched})


def _value_at(data: Mapping[str, Any], path: str) -> Choice | Miss:
    """The scalar at `path` in spec data; every entry alike for a `*` path."""
    found = list(_walk(data, tuple(path.split("."))))
    if not found:
        return Miss("outside", f"it does not write {path}, which this space varies")
    if any(value != found[0] for value in found):
        return Miss("outside", f"{path} sets every entry alike, but it has {found}")
    value = found[0]
    if not isinstance(value, bool | int | float | str):
        return Miss("outside", f"{path} is {value!r}, not a value")
    return value


def _walk(node: Any, parts: tuple[str, ...]) -> Iterator[Any]:
    if not parts:
        yield node
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        indices = range(len(node)) if head == ALL else [int(head)] if head.isdigit() and int(head) < len(node) else []
        for index in indices:
            yield from _walk(node[index], rest)
    elif isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest)


def _outside_param(path: str, param: Param, value: Choice) -> str | None:
    """Why `value` is none of the values the space gives `path`, or None."""
    if param.choices is not None:
        if any(value == choice and type(value) is type(choice) for choice in param.choices):
            return None
        if resolve(path).kind == "float" and any(value == choice for choice in param.choices):
            return None  # 0.1 written as 1e-1, an integer-valued float
        return f"{path} = {value!r} is not one of its choices {list(param.choices)}"
    assert param.low is not None and param.high is not None
    if isinstance(value, bool) or not isinstance(value, int | float) or not param.low <= value <= param.high:
        return f"{path} = {value!r} is outside its range {param.low}..{param.high}"
    if param.step is not None:
        steps = (value - param.low) / param.step
        if not math.isclose(steps, round(steps), abs_tol=1e-9):
            return f"{path} = {value!r} is not {param.low} plus a multiple of its step {param.step}"
    return None


def _network(spec: NetSpec) -> dict[str, Any]:
    """The network a spec builds, whichever way its body is written (depths and width, or stages)."""
    data = spec.model_dump(mode="json", exclude={"name", "description", "reference", "depth", "train", "search"})
    for key in ("depths", "width", "stages"):
        data["body"].pop(key, None)
    stages = [stage.model_dump(mode="json") for stage in spec.body.resolved_stages()]
    data["body"]["stages"] = {key: [stage.get(key) for stage in stages] for key in stages[0]}  # depth: [3, 3, 3]
    return data


def _changes(first: Any, second: Any, path: str = "") -> Iterator[str]:
    if isinstance(first, dict) and isinstance(second, dict):
        for key in sorted({*first, *second}, key=str):
            yield from _changes(first.get(key), second.get(key), f"{path}{key}.")
    elif isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        for index, (one, other) in enumerate(zip(first, second, strict=True)):
            yield from _changes(one, other, f"{path}{index}.")
    elif first != second:
        yield f"{path.rstrip('.')} ({_short(second)} where the space has {_short(first)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _shown(changes: list[str]) -> str:
    more = f"; and {len(changes) - SHOWN} more" if len(changes) > SHOWN else ""
    return "; ".join(changes[:SHOWN]) + more


def _parse(data: dict[str, Any]) -> NetSpec:
    from archgen.spec.loader import parse_spec  # the loader runs the rules, which run this module's checks

    return parse_spec(data)


def _first(error: SpecError | PathError) -> str:
    return str(error.problems[0]) if isinstance(error, SpecError) else str(error)


# --- [search] enqueue -------------------------------------------------------------------------------------------


def enqueued(spec: NetSpec) -> list[tuple[str, dict[str, Choice] | Miss]]:
    """Each `[search] enqueue` entry and its point of the space (or why it has none), in order."""
    from archgen.spec.loader import read_spec

    assert spec.search is not None
    found: list[tuple[str, dict[str, Choice] | Miss]] = []
    for entry in spec.search.enqueue:
        try:
            with _nested():
                network = read_spec(entry)
        except SpecError as error:
            problem = error.problems[0]
            alone = problem.file is not None and str(problem.file) == entry and problem.line is None
            found.append((entry, Miss("unreadable", problem.message if alone else str(problem))))
            continue
        found.append((entry, point_of(spec, network)))
    return found


_DEPTH = [0]  # enqueued specs being read: one that enqueues others is not followed further


@contextlib.contextmanager
def _nested() -> Iterator[None]:
    _DEPTH[0] += 1
    try:
        yield
    finally:
        _DEPTH[0] -= 1


def check_enqueue(spec: NetSpec) -> list[RuleViolation]:
    """`[search] enqueue` entries the search cannot train first: a file or name that is no spec, a network outside
    the space, or one trained with another recipe."""
    if spec.search is None or not spec.search.enqueue or _DEPTH[0]:
        return []
    return [(("search", "enqueue", index), f"{entry!r}: {point.reason}")
            for index, (entry, point) in enumerate(enqueued(spec)) if isinstance(point, Miss)]
