"""One search as every worker runs it (`SearchConfig`), and its Optuna study: created, resumed only if its base spec,
space and objectives are unchanged, or opened as it is for `archgen report`.

Optuna's `load_if_exists` checks neither directions nor space, so archgen stores the resolved search spec and its
fingerprint as study user attributes and compares them itself, naming what changed. The check and the tag it
protects happen under the study's claim lock, so two commands starting at once on a new study cannot both pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

from archgen.errors import SearchError, printable
from archgen.search.pruning import make_pruner
from archgen.search.record import RESOLVED
from archgen.search.storage import StorageSpec, claim_lock, open_storage, storage_errors
from archgen.spec.schema import NetSpec
from archgen.spec.search_space import SearchSpace
from archgen.training import Listener

DEFAULT_TRIALS = 50
FINGERPRINT = "archgen.fingerprint"
MAX_CHANGES_SHOWN = 6


class Trainer(Protocol):
    """What trains a trial: `archgen.training.train`'s call, with the trial's spec and nothing else. The listener hears
    every epoch (`on_epoch(metrics)`) and may raise to stop the training (a pruned trial); what it returns is unused."""

    def __call__(self, spec: NetSpec, *, device: str, listener: Listener) -> object: ...


@dataclass(frozen=True)
class SearchConfig:
    """Everything a worker needs; `spec` already carries the run's epochs (search.epochs) and data (train.data).

    Frozen and picklable (a module-level trainer only), so `--workers N` hands it to N spawned processes.
    """

    spec: NetSpec
    study: str
    storage: StorageSpec
    trials: int
    out: Path
    """The study folder: winners, plots, and each trained trial's TensorBoard events (tensorboard/trial-N/)."""
    timeout: float | None = None
    seed: int = 0
    workers: int = 1
    device: str = "auto"
    trainer: Trainer | None = None
    """Replaces archgen.training.train (tests inject fakes; must be a module-level function for workers)."""
    poll_seconds: float = 0.5
    max_rejections: int = 200
    """Consecutive proposals rejected before training (over budget, invalid, duplicate) before a worker gives up."""
    force: bool = False
    """Replace what another study kept in the study folder (trials/, tensorboard/), as `--force` does best.toml."""

    @property
    def space(self) -> SearchSpace:
        assert self.spec.search is not None
        return self.spec.search


def resolve_spec(spec: NetSpec, *, epochs: int | None = None, data: str | None = None) -> NetSpec:
    """The search spec with the run's `--epochs` (search.epochs) and `--data` (train.data) written in."""
    if spec.search is None:
        raise SearchError(f"spec {spec.name!r} has no [search] table; a search spec extends a base spec and adds one")
    update: dict[str, Any] = {}
    if epochs is not None:
        update["search"] = SearchSpace.model_validate({**spec.search.model_dump(), "epochs": epochs})
    if data is not None:
        update["train"] = spec.train.model_copy(update={"data": data})
    return spec.model_copy(update=update) if update else spec


def default_trials(space: SearchSpace) -> int:
    """`--trials` when not given: the space's `trials`, else the grid's size, else 50."""
    if space.trials is not None:
        return space.trials
    if space.resolved_sampler == "grid":
        return space.size() or DEFAULT_TRIALS
    return DEFAULT_TRIALS


# --- creating or resuming ------------------------------------------------------------------------------------------


def open_study(config: SearchConfig) -> optuna.Study:
    """The study of `config`, created or resumed (refused if its spec changed)."""
    return create_or_resume(config.storage, config.study, config.spec, pruner=make_pruner(config.space))


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


def resolved_data(spec: NetSpec) -> dict[str, Any]:
    """What defines a study: the base spec and its search table (epochs and data included), as plain data. The
    pruner as resolved, and a single seed as before repeats existed (so a study made then resumes); the enqueued
    specs are where a study starts, not what it searches."""
    data = spec.model_dump(mode="json", exclude={"name": True, "description": True, "search": {"enqueue"}})
    if spec.search is not None:
        data["search"]["pruner"] = spec.search.resolved_pruner
        if spec.search.repeats == 1:
            del data["search"]["repeats"]
    return data


def fingerprint(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def directions(spec: NetSpec) -> list[StudyDirection]:
    assert spec.search is not None
    return [
        StudyDirection.MAXIMIZE if objective == "accuracy" else StudyDirection.MINIMIZE
        for objective in spec.search.objectives
    ]


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


# --- an existing study, as it is -----------------------------------------------------------------------------------


def load_study(where: StorageSpec, name: str | None = None) -> optuna.Study:
    """An existing study (for `archgen report`): `name`, or the storage's only study; lists the studies otherwise."""
    with storage_errors(where):
        storage = open_storage(where)
        names = [summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        listed = printable(", ".join(names))
        if name is None and len(names) != 1:
            raise SearchError(f"the journal holds {len(names)} studies ({listed}); name one with --storage")
        if name is not None and name not in names:
            raise SearchError(f"no study named {name!r} in this storage (studies: {listed or 'none'})")
        return optuna.load_study(study_name=name or names[0], storage=storage)
