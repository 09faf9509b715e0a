"""Creating a study, or resuming one only if its base spec, space and objectives are unchanged.

Optuna's `load_if_exists` checks neither directions nor space, so archgen stores the resolved search
spec and its fingerprint as study user attributes and compares them itself, naming what changed.
The check and the tag it protects happen under the study's claim lock, so two commands starting at
once on a new study cannot both find it untagged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

from archgen.errors import SearchError, SpecError, printable
from archgen.search.storage import StorageSpec, claim_lock, open_storage
from archgen.spec.schema import NetSpec

FINGERPRINT = "archgen.fingerprint"
RESOLVED = "archgen.search_spec"
MAX_CHANGES_SHOWN = 6


def resolved_data(spec: NetSpec) -> dict[str, Any]:
    """What defines a study: the base spec and its search table (epochs and data included), as plain data."""
    return spec.model_dump(mode="json", exclude={"name", "description"})


def fingerprint(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def directions(spec: NetSpec) -> list[StudyDirection]:
    assert spec.search is not None
    return [
        StudyDirection.MAXIMIZE if objective == "accuracy" else StudyDirection.MINIMIZE
        for objective in spec.search.objectives
    ]


def create_or_resume(
    where: StorageSpec, name: str, spec: NetSpec, *, pruner: optuna.pruners.BasePruner | None = None
) -> optuna.Study:
    """The study `name` for `spec` in the storage `where`: created if new, resumed if it searches exactly the same.

    The check and the tag run under the study's claim lock: without it two commands with different specs could
    both find a new study untagged, both pass, and search it together (the last tag winning). Creating needs no
    lock (Optuna's `load_if_exists` makes it idempotent), so a storage that cannot be written says so first.
    """
    study = _create(open_storage(where), name, spec, pruner=pruner, where=where)
    with claim_lock(where, name):
        _check_or_tag(study, spec)  # reads the study afresh: a tag written meanwhile is seen here
    return study


def _create(
    storage: BaseStorage, name: str, spec: NetSpec, *, pruner: optuna.pruners.BasePruner | None, where: StorageSpec
) -> optuna.Study:
    try:
        return optuna.create_study(
            storage=storage, study_name=name, directions=directions(spec), pruner=pruner, load_if_exists=True
        )
    except optuna.exceptions.OptunaError as error:  # Optuna's commit errors name neither file nor URL: add them
        raise SearchError(f"cannot open study {name!r} in {where.label}: {where.quote(error)}") from None


def _check_or_tag(study: optuna.Study, spec: NetSpec) -> None:
    """Tag an untagged new study with `spec`; refuse one tagged with another spec, or one archgen did not make."""
    name, data = study.study_name, resolved_data(spec)
    stored = study.user_attrs.get(RESOLVED)
    if stored is None:
        if study.trials:
            raise SearchError(f"study {name!r} exists but was not made by archgen search; choose another --study name")
        tag(study, data)
        return
    if fingerprint(stored) != fingerprint(data) or [d.name for d in study.directions] != [
        d.name for d in directions(spec)
    ]:
        changes = list(diff(stored, data))
        shown = "; ".join(changes[:MAX_CHANGES_SHOWN]) + (
            f"; and {len(changes) - MAX_CHANGES_SHOWN} more" if len(changes) > MAX_CHANGES_SHOWN else ""
        )
        raise SearchError(
            f"study {name!r} searched a different spec, so it cannot be resumed: "
            f"{printable(shown) or 'the objectives changed'}. Start a new study with --study NAME, or undo the change"
        )


def tag(study: optuna.Study, data: dict[str, Any]) -> None:
    """Write the resolved search spec and its fingerprint on the study (call holding the claim lock)."""
    study.set_user_attr(RESOLVED, data)
    study.set_user_attr(FINGERPRINT, fingerprint(data))


def diff(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Each changed key path as `path: old -> new`."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted({*old, *new}, key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                yield f"{where} added ({_short(new[key])})"
            elif key not in new:
                yield f"{where} removed (was {_short(old[key])})"
            else:
                yield from diff(old[key], new[key], where)
    elif old != new:
        yield f"{path}: {_short(old)} -> {_short(new)}"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def study_names(storage: BaseStorage) -> list[str]:
    return [summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def load_existing(storage: BaseStorage, name: str) -> optuna.Study:
    """An existing archgen study (for `archgen report`); lists the storage's studies if `name` is not one."""
    names = study_names(storage)
    if name not in names:
        listed = printable(", ".join(names)) or "none"
        raise SearchError(f"no study named {name!r} in this storage (studies: {listed})")
    return optuna.load_study(study_name=name, storage=storage)


def study_spec(study: optuna.Study) -> NetSpec:
    """The resolved search spec a study was made with."""
    from archgen.spec.loader import parse_spec

    data = study.user_attrs.get(RESOLVED)
    if not isinstance(data, dict):
        raise SearchError(f"study {study.study_name!r} was not made by archgen search (no {RESOLVED} table)")
    try:
        return parse_spec({"name": study.study_name, **data})
    except SpecError as error:  # written by something else than archgen search: one line, not a spec's report
        problem = error.problems[0]
        raise SearchError(f"study {study.study_name!r} was not made by archgen search (its {RESOLVED} is no spec: "
                          f"{problem.field + ': ' if problem.field else ''}{printable(problem.message)})") from None
