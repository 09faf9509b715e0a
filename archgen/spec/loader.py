"""From TOML files to a validated `NetSpec`: `extends` chains, merging, and located error messages.

Every problem becomes `path:line: field.path: message`, pointing into the file that wrote the value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from archgen.errors import Problem, SpecError, printable
from archgen.spec import library, rules
from archgen.spec.document import Source, read_source
from archgen.spec.fields import Loc
from archgen.spec.messages import did_you_mean, quote, rule_message, show
from archgen.spec.schema import NetSpec

MAX_EXTENDS = 16
MAX_PROBLEMS = 100

Check = Callable[[NetSpec], list[rules.RuleViolation]]
Owners = dict[Loc, Source]


def read_spec(path_or_name: str | Path, *, checks: Sequence[Check] = ()) -> NetSpec:
    """Read a spec file (or a shipped spec by name), following `extends`, and check the language's rules.

    The language only: no size limits unless given in `checks` (`archgen.load_spec` adds the analysis' own).
    Raises SpecError with every problem found, each located in the file that caused it.
    """
    path = resolve_spec_path(path_or_name)
    source = read_source(path)
    boundary = library.LIBRARY_ROOT if _inside(path, library.LIBRARY_ROOT) else path.resolve().parent
    try:
        data, owners = _load_chain(source, boundary, seen=())
        return _validate(data, owners, default=source, checks=checks)
    except SpecError as error:
        raise SpecError([_via(problem, path) for problem in error.problems]) from None


def _via(problem: Problem, path: Path) -> Problem:
    """A problem found in a parent names the file being loaded too: that is the file the user asked about."""
    if problem.file is None or problem.file == path or problem.file.resolve() == path.resolve():
        return problem
    return dataclasses.replace(problem, message=f"{problem.message} (extended by {path})")


def parse_spec(data: dict[str, Any], *, origin: Path | None = None, checks: Sequence[Check] = ()) -> NetSpec:
    """Validate spec data that did not come from a file (a search trial's proposal, a test's dict)."""
    source = Source(path=origin or Path("<spec>"), data=data, lines={})
    return _validate(data, {}, default=source, checks=checks)


def resolve_spec_path(path_or_name: str | Path) -> Path:
    """A path as given, or the shipped spec of that name; a missing name suggests close ones."""
    path = Path(path_or_name)
    if _exists(path) or not library.looks_like_name(str(path_or_name)):
        return path
    shipped = library.find_shipped(str(path_or_name))
    if shipped is not None:
        return shipped
    hint = did_you_mean(str(path_or_name), library.shipped_specs())
    raise SpecError([Problem(path, f"no such file, and no shipped spec of that name{hint}")])


def _exists(path: Path) -> bool:
    """Whether `path` exists; a name the system cannot even look up (too long, NUL) does not."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


# --- extends ---------------------------------------------------------------------------------


def _load_chain(source: Source, boundary: Path, seen: tuple[Path, ...]) -> tuple[dict[str, Any], Owners]:
    """The file's data merged over its parents', and which file wrote each key path."""
    data = dict(source.data)
    data.setdefault("name", source.path.stem)
    owners: Owners = {loc: source for loc in _locs(data)}
    extends = data.pop("extends", None)
    if extends is None:
        return data, owners
    parent = read_source(_resolve_extends(extends, source, boundary, seen))
    # a shipped parent's own `extends` stays inside the library, wherever the child lives
    parent_boundary = library.LIBRARY_ROOT if _inside(parent.path, library.LIBRARY_ROOT) else boundary
    parent_data, parent_owners = _load_chain(parent, parent_boundary, (*seen, source.path.resolve()))
    for key in _OWN_FIELDS:  # a variant is a different network: it names and describes itself
        parent_data.pop(key, None)
    return _merge(parent_data, data), {**parent_owners, **owners}


_OWN_FIELDS = ("name", "description", "reference")


def _resolve_extends(extends: object, source: Source, boundary: Path, seen: tuple[Path, ...]) -> Path:
    def fail(message: str) -> SpecError:
        return SpecError([Problem(source.path, message, source.line_of(("extends",)), field="extends")])

    if not isinstance(extends, str) or not extends:
        raise fail(f"must name a spec file or a shipped spec, got {show(extends)}")
    if len(seen) >= MAX_EXTENDS:
        raise fail(f"more than {MAX_EXTENDS} specs in one extends chain")
    if "\x00" in extends:  # the operating system's paths end at NUL: no file can have this name
        raise fail(f"must name a spec file or a shipped spec, got a NUL character in {quote(extends)}")
    try:
        parent = _find_parent(extends, source, boundary, fail)
        chain = (*seen, source.path.resolve())
        if parent.resolve() in chain:
            cycle = " -> ".join(path.name for path in (*chain, parent))
            raise fail(f"extends cycle: {cycle}")
    except (OSError, RuntimeError) as error:  # a name too long for the system; links in a loop (RuntimeError)
        errno = getattr(error, "errno", None)
        reason = os.strerror(errno) if errno else "its symbolic links form a loop"
        raise fail(f"{quote(extends)} cannot be opened: {reason}") from None
    return parent


def _find_parent(extends: str, source: Source, boundary: Path, fail: Callable[[str], SpecError]) -> Path:
    if library.looks_like_name(extends):
        parent = library.find_shipped(extends)
        if parent is None:
            raise fail(f"no shipped spec named {quote(extends)}{did_you_mean(extends, library.shipped_specs())}")
        return parent
    if Path(extends).is_absolute():
        raise fail(f"must be a path relative to this file, got the absolute path {quote(extends)}")
    # normalised, not resolved: problems in the parent keep the path the user typed, relative stays relative
    parent = Path(os.path.normpath(source.path.parent / extends))
    if not _inside(parent, boundary):
        raise fail(
            f"{quote(extends)} leaves the spec's folder {boundary}; "
            "extend a shipped spec by name or a file below that folder"
        )
    if not parent.is_file():
        raise fail(f"{quote(extends)}: no such file (looked for {parent})")
    return parent


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


# A body is written in one of two forms; a child that writes one form replaces the parent's other.
_BODY_FORMS = ({"depths", "width"}, {"stages"})


def _merge(base: dict[str, Any], override: dict[str, Any], loc: Loc = ()) -> dict[str, Any]:
    merged = dict(base)
    if loc == ("body",):
        for form, other in (_BODY_FORMS, _BODY_FORMS[::-1]):
            if form & override.keys():
                for key in other:
                    merged.pop(key, None)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, (*loc, key))
        else:
            merged[key] = value
    return merged


def _locs(value: Any, loc: Loc = ()) -> Iterable[Loc]:
    if loc:
        yield loc
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _locs(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _locs(item, (*loc, index))


# --- validation and messages -------------------------------------------------------------------


def _validate(data: dict[str, Any], owners: Owners, *, default: Source, checks: Sequence[Check]) -> NetSpec:
    try:
        spec = NetSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_schema_problems(error, owners, default)) from None
    violations = rules.check(spec)
    if not violations:
        violations = [violation for check in checks for violation in check(spec)]
    if violations:
        raise SpecError([_locate(loc, message, owners, default) for loc, message in violations])
    return spec


def _schema_problems(error: ValidationError, owners: Owners, default: Source) -> list[Problem]:
    """The first MAX_PROBLEMS problems in reading order, and how many more there are.

    A 1 MiB file can hold 200,000 wrong values; listing them all took 20 s and flooded the terminal.
    """
    errors = _without_echoes(error.errors())
    located = sorted(((_locate(tuple(e["loc"]), "", owners, default), e) for e in errors),
                     key=lambda pair: _reading_order(pair[0]))
    problems = [dataclasses.replace(problem, message=rule_message(e)) for problem, e in located[:MAX_PROBLEMS]]
    if len(located) > MAX_PROBLEMS:
        first_unlisted = located[MAX_PROBLEMS][0]
        problems.append(dataclasses.replace(
            first_unlisted, field=None, message=f"and {len(located) - MAX_PROBLEMS:,} more problems from here on "
            f"(archgen lists the first {MAX_PROBLEMS} of a file)"))
    return problems


def _without_echoes(errors: list[Any]) -> list[Any]:
    """Drop "at least 1 item, not 0" where an item failed: pydantic counts only the items that passed."""
    failed_items = {tuple(e["loc"][:at]) for e in errors for at, part in enumerate(e["loc"]) if isinstance(part, int)}
    return [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_items)]


def _reading_order(problem: Problem) -> tuple[str, int]:
    """Problems by file, then line: the order a reader meets them (pydantic reports in schema order)."""
    return str(problem.file), problem.line or 0


def _locate(loc: Loc, message: str, owners: Owners, default: Source) -> Problem:
    """The problem at `loc`, in the file that wrote the nearest written key path."""
    for end in range(len(loc), -1, -1):
        source = owners.get(loc[:end])
        if source is not None:
            break
    else:
        source = default
    field = ".".join(_field_part(part) for part in loc) or None
    return Problem(source.path, message, line=source.line_of(loc) or 1, field=field)


def _field_part(part: str | int) -> str:
    """A key as printed in a field path: control, bidi and zero-width characters escaped, so that the
    problem stays one line and reads as what the file holds (a U+202E key must not reverse the line); shortened."""
    text = printable(str(part))
    return text if len(text) <= 60 else text[:57] + "..."  # a 10,000-character key must not flood the line
