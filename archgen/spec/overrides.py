"""Spec fields from the command line: `--set train.lr=0.05` parsed (the value as TOML), applied to a loaded spec and
validated as the file would be, every problem naming the `--set` (or the option, `--lr 0.05`) that caused it.

Knows spec data and the language's messages; nothing of files, commands or torch.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from archgen.errors import Problem, SpecError, printable
from archgen.spec import fields, rules
from archgen.spec.fields import Loc
from archgen.spec.messages import rule_message
from archgen.spec.schema import NetSpec

Check = Callable[[NetSpec], list[rules.RuleViolation]]

# Tables whose values change the network itself: setting one drops the declared depth and the paper reference it
# no longer matches (a new input size keeps the depth but not the published shapes).
_SHAPES = ("stem", "body", "head")
_REFERENCE = ("input", *_SHAPES)
# The two forms of a body (as the loader merges `extends`): writing one replaces the other.
_BODY_FORMS = ({"depths", "width"}, {"stages"})
MAX_OVERRIDE = 4096  # characters of one `--set`: more than any spec value needs


@dataclass(frozen=True)
class Override:
    """One field set from the command line: its dotted path, its value, and how the user wrote it."""

    path: str
    value: Any
    given: str
    """`--set train.lr=0.05`, or `--lr 0.05` for an option that is an alias of `--set train.lr=…`."""

    @property
    def parts(self) -> Loc:
        return tuple(int(part) if part.isascii() and part.isdigit() else part for part in self.path.split("."))


@dataclass(frozen=True)
class OverrideProblem(Problem):
    """A problem a `--set` caused: `--set train.lr=-1: train.lr: must be greater than 0, got -1.0`."""

    given: str = ""

    def __str__(self) -> str:
        return f"{printable(self.given)}: {super().__str__()}"


@dataclass(frozen=True)
class Overridden:
    """The spec with every override applied and validated, and what to tell the user (a key given twice)."""

    spec: NetSpec
    notes: tuple[str, ...] = ()


def parse_override(text: str) -> Override:
    """`KEY=VALUE` as `--set` takes it: VALUE is read as a TOML value (`5e-4`, `true`, `[3, 3, 3]`, `"cifar"`);
    text that is not one is taken as a string (`--set train.augment=random-resized-crop`)."""
    given = f"--set {text}"
    key, equals, value = text.partition("=")
    key = key.strip()
    if len(text) > MAX_OVERRIDE:
        raise _refuse(given[:60] + "...", f"longer than {MAX_OVERRIDE:,} characters")
    if not equals:
        raise _refuse(given, "expected KEY=VALUE, such as train.lr=0.05 or body.depths=[3,3,3]")
    if not key or any(not part.strip() for part in key.split(".")):
        raise _refuse(given, "the key must be a field path, such as train.weight_decay or body.depths.0")
    return Override(key, _toml_value(value.strip()), given)


def _as_field(override: Override) -> Any:
    """The value as the field holds it: an integer given for a float field is that float (`train.lr=1` is 1.0)."""
    value, annotation = override.value, fields.annotation_at(override.parts)
    if isinstance(value, int) and not isinstance(value, bool) and annotation is not None \
            and fields.scalar_kind(annotation) == "float" and abs(value) < 2**53:
        return float(value)
    return value


def alias(path: str, value: Any, option: str) -> Override:
    """An option that sets one field (`--epochs 3` is `--set train.epochs=3`), said as the user wrote it."""
    return Override(path, value, f"{option} {value}")


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: `cifar10:~/data`, `bottleneck`


def apply_overrides(spec: NetSpec, overrides: Sequence[Override], *, unused: Mapping[str, str] | None = None,
                    checks: Sequence[Check] = ()) -> Overridden:
    """`spec` with every override set, in order (a key set twice: the last wins, and a note says so once).

    `unused`: the top-level tables the command ignores, each with why (`{"search": "only archgen search uses
    it"}`): setting one is refused, saying so. Validated with the language's rules and `checks`; raises SpecError
    whose problems each name the override that caused them.
    """
    if not overrides:
        return Overridden(spec)
    for override in overrides:
        top = override.path.split(".")[0]
        if unused and top in unused:
            raise _refuse(override.given, unused[top])
    data = spec.model_dump(mode="json", exclude_none=True)
    for override in overrides:
        _forget_what_changes(data, override)
    for override in overrides:
        _set(data, override)
    return Overridden(_validate(data, overrides, checks), _repeats(overrides))


def _forget_what_changes(data: dict[str, Any], override: Override) -> None:
    """A changed network no longer is the one its `depth` and `reference` describe (unless they are set too);
    a body written in one form loses the other."""
    top = override.path.split(".")[0]
    if top in _SHAPES:
        data.pop("depth", None)
    if top in _REFERENCE:
        data.pop("reference", None)
    if top == "body" and len(override.parts) > 1 and isinstance(data.get("body"), dict):
        for form, other in (_BODY_FORMS, _BODY_FORMS[::-1]):
            if override.parts[1] in form:
                for key in other:
                    data["body"].pop(key, None)


def _set(data: dict[str, Any], override: Override) -> None:
    node: Any = data
    parts = override.parts
    for index, part in enumerate(parts):
        where = ".".join(map(str, parts[:index])) or "the spec"
        last = index == len(parts) - 1
        value = copy.deepcopy(_as_field(override)) if last else None
        if isinstance(node, list):
            if not isinstance(part, int):
                raise _refuse(override.given, f"{where} is an array: index it with a number, got {part!r}")
            if part >= len(node):
                raise _refuse(override.given, f"{where} has {len(node)} entries, so index {part} does not exist")
            if last:
                node[part] = value
            node = node[part]
        elif isinstance(node, dict):
            if last:
                node[str(part)] = value
            node = node.setdefault(str(part), {})
        else:
            raise _refuse(override.given, f"{where} is a single value, it has no field {str(part)!r}")


def _validate(data: dict[str, Any], overrides: Sequence[Override], checks: Sequence[Check]) -> NetSpec:
    try:
        spec = NetSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError([_problem(tuple(e["loc"]), rule_message(e), overrides) for e in error.errors()]) from None
    violations = rules.check(spec) or [violation for check in checks for violation in check(spec)]
    if violations:
        raise SpecError([_problem(loc, message, overrides) for loc, message in violations])
    return spec


def _problem(loc: Loc, message: str, overrides: Sequence[Override]) -> OverrideProblem:
    """The problem at `loc`, blamed on the last override at or around it, else on all of them (a rule relating
    a set field to others)."""
    near = [override for override in overrides if _related(override.parts, loc)]
    given = near[-1].given if near else " ".join(override.given for override in overrides)
    field = ".".join(printable(str(part)) for part in loc) or None
    return OverrideProblem(None, message, field=field, given=given)


def _related(parts: Loc, loc: Loc) -> bool:
    shorter = min(len(parts), len(loc))
    return parts[:shorter] == loc[:shorter]


def _repeats(overrides: Sequence[Override]) -> tuple[str, ...]:
    by_path: dict[str, list[Override]] = {}
    for override in overrides:
        by_path.setdefault(override.path, []).append(override)
    return tuple(f"{path} is given {len(given)} times ({', '.join(o.given for o in given)}); the last one is used"
                 for path, given in by_path.items() if len(given) > 1)


def _refuse(given: str, message: str) -> SpecError:
    return SpecError([OverrideProblem(None, message, given=given)])


def describe(overrides: Sequence[Override]) -> str:
    """The overrides as one command-line fragment: `--set train.lr=0.05 --epochs 3`."""
    return " ".join(override.given for override in overrides)

