"""Design spaces compared as Radosavovic et al. compare them ("On Network Design Spaces for Visual Recognition", 2019;
"Designing Network Design Spaces", 2020): the models `sampling` draws from each search space within one complexity
band, each trained under its space's recipe, and each space's error EDF, the Kolmogorov–Smirnov distance between
spaces with a bootstrap interval, and its best, median and 25th-percentile errors.

Each space is a study of its own (its sampled points enqueued, nothing pruned), so `archgen spaces` resumes like a
search and reuses finished trials of the same point and recipe. Values only: `archgen.report` draws them.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from archgen.errors import SearchError, printable
from archgen.search import record
from archgen.search.sampling import Band, Space
from archgen.search.starts import Source, other_study
from archgen.search.storage import storage_spec
from archgen.search.study import SearchConfig, resolve_spec
from archgen.search.workers import optimize
from archgen.spec.search_space import SearchSpace
from archgen.statistics import Interval, ks_interval, quantile

# --- training: one study per space ------------------------------------------------------------------------------


def space_config(space: Space, *, out: Path, device: str = "auto", seed: int = 0, workers: int = 1,
                 trainer: object = None) -> SearchConfig:
    """The study that trains `space`'s sampled models: its own recipe, nothing pruned (an EDF needs every final
    error), one trial per model; in out/<space name>/."""
    spec = resolve_spec(space.spec)
    assert spec.search is not None
    search = SearchSpace.model_validate({**spec.search.model_dump(), "objectives": ("accuracy",), "pruner": "none",
                                         "sampler": "random", "trials": len(space.models), "enqueue": ()})
    folder = out / spec.name
    return SearchConfig(spec=spec.model_copy(update={"search": search}), study=spec.name,
                        storage=storage_spec(None, folder=folder), trials=len(space.models), out=folder,
                        device=device, seed=seed, workers=workers, trainer=trainer)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Trained:
    """A space's sampled models as trained: each one's final validation error (in sampling order)."""

    space: Space
    errors: tuple[float, ...]
    reused: int
    """Models whose trial was imported from another study (not trained by this command)."""

    @property
    def best(self) -> float:
        return min(self.errors)

    @property
    def median(self) -> float:
        return quantile(self.errors, 0.5)

    @property
    def quartile(self) -> float:
        """The 25th-percentile error: a quarter of the models are at least this good."""
        return quantile(self.errors, 0.25)


def train_space(space: Space, config: SearchConfig, *, reuse: Sequence[Path] = (),
                on_note: object = None) -> Trained:
    """Train `space`'s models in its study (resuming it), first importing from each study of `reuse` the finished
    trials of the same points and recipe."""
    note = on_note if callable(on_note) else (lambda _: None)
    wanted = frozenset(tuple(sorted(model.point.items())) for model in space.models)
    sources = [found for found in (_source(folder, config, note) for folder in reuse) if found is not None]
    study = optimize(config, points=[model.point for model in space.models], on_note=note,
                     from_study=[dataclasses.replace(source, only=wanted) for source in sources]).study
    return _trained(space, study)


def _source(folder: Path, config: SearchConfig, note: object) -> Source | None:
    try:
        return other_study(folder, config)
    except SearchError as error:
        if callable(note):
            note(f"{config.study}: not reusing {printable(str(folder))}: {str(error).split(': ', 1)[-1]}")
        return None


def _trained(space: Space, study: optuna.Study) -> Trained:
    by_point: dict[tuple[tuple[str, object], ...], optuna.trial.FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        by_point.setdefault(record.point_key(trial), trial)
    errors, reused = [], 0
    for model in space.models:
        found = by_point.get(tuple(sorted(model.point.items())))
        if found is None:
            raise SearchError(f"{printable(space.label)}: the model {model.architecture} has no complete trial in "
                              f"study {study.study_name!r} (it failed: see archgen report)")
        errors.append(1.0 - (record.accuracy(found) or 0.0))
        reused += record.IMPORTED in found.user_attrs
    return Trained(space, tuple(errors), reused)


# --- the comparison ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distance:
    """The KS distance between two spaces' error EDFs, with its 95% bootstrap interval."""

    first: str
    second: str
    ks: Interval


@dataclass(frozen=True)
class Comparison:
    band: Band
    spaces: tuple[Trained, ...]
    distances: tuple[Distance, ...]
    seconds: float


def compare(band: Band, trained: Sequence[Trained], *, seconds: float, seed: int = 0) -> Comparison:
    distances = tuple(Distance(first.space.label, second.space.label,
                               ks_interval(first.errors, second.errors, seed=seed))
                      for first, second in itertools.combinations(trained, 2))
    return Comparison(band, tuple(trained), distances, seconds)


def compare_spaces(band: Band, sampled: Sequence[Space], *, out: Path, seed: int = 0, device: str = "auto",
                   workers: int = 1, reuse: Sequence[Path] = (), on_note: object = None,
                   trainer: object = None) -> Comparison:
    """Train the sampled models of each space (its study resumed, trials of `reuse` imported) and compare the spaces'
    error EDFs: what `archgen spaces` does after sampling."""
    began = time.monotonic()
    trained = [train_space(space, space_config(space, out=out, device=device, seed=seed, workers=workers,
                                               trainer=trainer), reuse=reuse, on_note=on_note)
               for space in sampled]
    return compare(band, trained, seconds=time.monotonic() - began, seed=seed)
