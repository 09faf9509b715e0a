"""Warm starts: the specs a search spec enqueues (`[search] enqueue`), trained before anything the sampler proposes,
and the finished trials of another study imported without training (`archgen search --from-study DIR`).

Each network is mapped onto this space by `archgen.spec.search_starts` (nothing is built). Both run in the search's
parent under the study's claim lock, before any worker claims a trial, so they work with every storage and with
`--workers`; both are idempotent: a resumed search enqueues no point the study has, imports no trial twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from archgen.analysis import analyze, check_budget
from archgen.errors import SearchError, printable
from archgen.search import record
from archgen.search.space import distributions, trial_spec
from archgen.search.storage import JOURNAL_NAME, claim_lock, storage_errors, storage_spec
from archgen.search.study import SearchConfig, load_study
from archgen.search.trial import constraints
from archgen.spec.schema import NetSpec
from archgen.spec.search_space import Choice, SearchSpace
from archgen.spec.search_starts import Miss, enqueued, point_of, recipe

SHOWN = 3
# What an imported trial keeps of its record: what the views, verdicts and winners read (its grown_from and worker
# name the other study's trials and processes).
KEPT = (record.HISTORY, record.SEED, record.IMAGES, record.REPEATS, record.SUMMARY, record.LATENCY,
        record.PLAIN_TRAIN_ERROR, record.PLAIN_VAL_ERROR, record.PLAIN_REASON, record.REASON)


# --- both, before any worker claims a trial ------------------------------------------------------------------------


def warm_start(study: optuna.Study, config: SearchConfig, sources: Sequence[Source],
               points: Sequence[Mapping[str, Choice]], note: Callable[[str], None]) -> None:
    """Import each source's trials, then queue the enqueued specs and `points` (`archgen spaces`' models), saying
    what each did to `note`."""
    for source in sources:
        note(str(import_trials(study, config, source)))
    queued = enqueue_starts(study, config)
    if queued:
        note(f"enqueued {queued} of the {len(config.space.enqueue)} specs of search.enqueue (the others are trained)"
             if queued < len(config.space.enqueue) else f"enqueued the {queued} specs of search.enqueue")
    sampled = enqueue_points(study, config, [("sampled", point) for point in points])
    if points:
        note(f"{config.study}: {len(points) - sampled} of its {len(points)} models trained or queued before, "
             f"{sampled} queued now")


# --- [search] enqueue --------------------------------------------------------------------------------------------


def enqueue_starts(study: optuna.Study, config: SearchConfig) -> int:
    """Queue each enqueued spec's point that the study has no trial of yet, in order; how many were queued."""
    points = []
    for entry, point in enqueued(config.spec) if config.space.enqueue else ():
        if isinstance(point, Miss):  # the spec changed since it was loaded: validate refuses it now
            raise SearchError(f"search.enqueue: {entry!r}: {point.reason}")
        points.append((entry, point))
    return enqueue_points(study, config, points)


def enqueue_points(
    study: optuna.Study, config: SearchConfig, points: Sequence[tuple[str, Mapping[str, Choice]]]
) -> int:
    """Queue each (label, point) the study has no trial of yet, in order, the label recorded as where it came from;
    how many were queued."""
    if not points:
        return 0
    with claim_lock(config.storage, config.study):
        taken = {record.point_key(trial) for trial in study.get_trials(deepcopy=False)
                 if trial.state != TrialState.FAIL}
        queued = 0
        for label, point in points:
            key = tuple(sorted(point.items()))
            if key not in taken:
                study.enqueue_trial(dict(point), user_attrs={record.ENQUEUED: label})
                taken.add(key)
                queued += 1
    return queued


# --- --from-study -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Another study, checked to have trained on this search's data with its recipe: ready to import from."""

    folder: Path
    study: optuna.Study
    spec: NetSpec
    only: frozenset[tuple[tuple[str, object], ...]] | None = None
    """Import only complete trials of these points (`archgen spaces`: the models it sampled); None: every one."""


@dataclass(frozen=True)
class Imported:
    """What `--from-study` did: of the other study's finished trials, those imported, those outside this space, and
    those trained otherwise than this search trains (`already` were imported by an earlier run)."""

    source: str
    finished: int
    imported: int
    outside: int
    differently: int
    already: int = 0
    unasked: int = 0
    """Points of this space that were not asked for (`Source.only`)."""

    def __str__(self) -> str:
        again = f"; {self.already} imported before" if self.already else ""
        unasked = f"; {self.unasked} not sampled" if self.unasked else ""
        return (f"imported {self.imported} of {self.finished} finished trials of {self.source} ({self.outside} "
                f"outside the space, {self.differently} trained differently{again}{unasked})")


def other_study(folder: Path, config: SearchConfig) -> Source:
    """The study in `folder` to import from, or one line saying why not: no study there, this search's own study,
    another data set, or another recipe. Reads only: nothing is written anywhere."""
    journal = folder / JOURNAL_NAME
    shown = printable(str(folder))
    if not folder.is_dir() or not journal.is_file():
        raise SearchError(f"--from-study {shown}: no study folder (no {JOURNAL_NAME} in it)")
    own = config.storage.journal
    where = storage_spec(str(journal), folder=folder)
    with storage_errors(where):
        study = load_study(where)
        if own is not None and own.resolve() == journal.resolve() and study.study_name == config.study:
            raise SearchError(f"--from-study {shown}: that is this search's own study {config.study!r}; its trials "
                              "are resumed, not imported")
        spec = record.study_spec(study)
    assert spec.search is not None
    if spec.train.data != config.spec.train.data:
        raise SearchError(f"--from-study {shown}: its study trained on {printable(spec.train.data)}, this search "
                          f"trains on {printable(config.spec.train.data)}; only trials of the same data are imported")
    differences = _recipe_differences(spec, config.spec)
    if differences:
        raise SearchError(f"--from-study {shown}: its trials trained differently from this search's: "
                          f"{'; '.join(differences[:SHOWN])}")
    return Source(folder, study, spec)


def _recipe_differences(other: NetSpec, this: NetSpec) -> list[str]:
    """How every trial of `other` trains otherwise than every trial of `this`: epochs, seeds per point, and the train
    fields that neither space searches."""
    assert other.search is not None and this.search is not None
    found = [f"search.{key} {getattr(other.search, key)} (this search: {getattr(this.search, key)})"
             for key in ("epochs", "repeats") if getattr(other.search, key) != getattr(this.search, key)]
    both = SearchSpace.model_validate({**this.search.model_dump(), "params": {**other.search.params,
                                                                              **this.search.params}})
    mine, theirs = recipe(this, both), recipe(other, both)
    found += [f"train.{key} {theirs[key]!r} (this search: {mine[key]!r})" for key in sorted(mine)
              if mine[key] != theirs.get(key)]
    return found


def import_trials(study: optuna.Study, config: SearchConfig, source: Source) -> Imported:
    """Add each finished trial of `source` whose network is a point of this space, trained as this search trains
    it, to `study` as finished (complete, or pruned with its epochs), without training it."""
    label = f"study {source.study.study_name!r} in {source.folder}"
    finished = [trial for trial in source.study.get_trials(deepcopy=False) if record.counts(trial)]
    outside = differently = already = imported = unasked = 0
    with claim_lock(config.storage, config.study):
        have = {trial.user_attrs.get(record.IMPORTED) for trial in study.get_trials(deepcopy=False)}
        for trial in finished:
            tag = f"{label} trial {trial.number}"
            if tag in have:
                already += 1
                continue
            made = _imported(trial, source.spec, config, tag)
            if isinstance(made, Miss):
                outside += made.kind == "outside"
                differently += made.kind == "recipe"
                continue
            if source.only is not None and (made.state != TrialState.COMPLETE or
                                            tuple(sorted(made.params.items())) not in source.only):
                unasked += 1
                continue
            study.add_trial(made)
            imported += 1
    return Imported(label, len(finished), imported, outside, differently, already, unasked)


def _imported(trial: FrozenTrial, other: NetSpec, config: SearchConfig, tag: str) -> FrozenTrial | Miss:
    """`trial` of the other study as a finished trial of this one, or why it cannot be."""
    space = config.space
    if trial.user_attrs.get(record.GROWN_FROM) is not None:
        return Miss("recipe", "it started from another trial's weights")
    if "latency" in space.objectives and record.LATENCY not in trial.user_attrs:
        return Miss("recipe", "its latency was not measured")
    network = trial_spec(other, trial.params, number=trial.number, seed=int(trial.user_attrs.get(record.SEED) or 0))
    point = point_of(config.spec, network)
    if isinstance(point, Miss):
        return point
    spec = trial_spec(config.spec, point, number=trial.number, seed=network.train.seed)
    cost = analyze(spec)
    verdict = check_budget(space, cost)
    if not verdict.fits:
        return Miss("outside", f"over this space's budget: {verdict.reason}")
    attrs = {key: trial.user_attrs[key] for key in KEPT if key in trial.user_attrs}
    attrs.update({record.OUTCOME: record.outcome(trial), record.PARAMS: cost.params, record.MACS: cost.macs,
                  record.IMPORTED: tag})
    complete = trial.state == TrialState.COMPLETE
    table = {"accuracy": record.accuracy(trial), "params": cost.params, "macs": cost.macs,
             "latency": trial.user_attrs.get(record.LATENCY)}
    return optuna.trial.create_trial(
        state=TrialState.COMPLETE if complete else TrialState.PRUNED,
        values=[float(table[o] or 0.0) for o in space.objectives] if complete else None,
        params=point, distributions=distributions(space), user_attrs=attrs,
        intermediate_values=dict(trial.intermediate_values), constraints=constraints(space, cost, verdict))
