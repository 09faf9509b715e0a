"""A study read back as values: trial rows, live progress, the best trials or Pareto front, and plot data.

Plain frozen dataclasses for `archgen.report` to render; nothing here draws or prints.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from archgen.search import outcome

TOP = 10


@dataclass(frozen=True)
class TrialRow:
    """One trial as a person reads it."""

    number: int
    outcome: outcome.Outcome
    point: dict[str, Any]
    accuracy: float | None = None
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    epochs: int = 0
    architecture: str = ""
    reason: str = ""
    worker: str = ""
    seed: int | None = None
    history: tuple[dict[str, float], ...] = ()


@dataclass(frozen=True)
class Progress:
    """The study right now: how many trials are in each state, the best so far, a leaderboard."""

    study: str
    target: int | None
    """The --trials this run aims at; None when re-read from storage alone (`archgen report`)."""
    objectives: tuple[str, ...]
    finished: int = 0
    running: int = 0
    complete: int = 0
    pruned: int = 0
    rejected: int = 0
    failed: int = 0
    best: TrialRow | None = None
    leaderboard: tuple[TrialRow, ...] = ()


@dataclass(frozen=True)
class PlotData:
    """What the search plots show: every trial's accuracy in order, costs for the Pareto front, importances."""

    history: tuple[tuple[int, float, str], ...] = ()  # (trial number, accuracy, outcome) of trained trials
    pareto_cost: str | None = None  # the cost objective on the Pareto plot's x axis (params when single-objective)
    importances: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyResults:
    """Everything `archgen report` shows about a study."""

    progress: Progress
    rows: tuple[TrialRow, ...]
    best: tuple[TrialRow, ...]  # the best trial, or every Pareto-optimal trial
    plots: PlotData


def row(trial: FrozenTrial) -> TrialRow:
    attrs = trial.user_attrs
    return TrialRow(
        number=trial.number,
        outcome=outcome.outcome(trial),
        point=dict(trial.params),
        accuracy=outcome.accuracy(trial),
        params=attrs.get(outcome.PARAMS),
        macs=attrs.get(outcome.MACS),
        latency_ms=attrs.get(outcome.LATENCY),
        seed=attrs.get(outcome.SEED),
        epochs=outcome.epochs_run(trial),
        architecture=attrs.get(outcome.SUMMARY, ""),
        reason=attrs.get(outcome.REASON, ""),
        worker=attrs.get(outcome.WORKER, ""),
        history=tuple(attrs.get(outcome.HISTORY) or ()),
    )


def objectives_of(study: optuna.Study) -> tuple[str, ...]:
    """The study's objectives as its search spec names them (accuracy alone if the spec does not say)."""
    resolved = study.user_attrs.get("archgen.search_spec")
    search = resolved.get("search") if isinstance(resolved, dict) else None
    objectives = search.get("objectives") if isinstance(search, dict) else None
    if isinstance(objectives, list) and "accuracy" in objectives and all(isinstance(o, str) for o in objectives):
        return tuple(objectives)
    return ("accuracy",)


def progress(study: optuna.Study, *, target: int | None, top: int = 5) -> Progress:
    trials = study.get_trials(deepcopy=False)
    kinds = Counter(outcome.outcome(trial) for trial in trials)
    ranked = _ranked([row(trial) for trial in trials if trial.state == TrialState.COMPLETE])
    return Progress(
        study=study.study_name,
        target=target,
        objectives=objectives_of(study),
        finished=kinds["complete"] + kinds["pruned"],
        running=kinds["running"],
        complete=kinds["complete"],
        pruned=kinds["pruned"],
        rejected=sum(kinds[kind] for kind in outcome.REJECTED),
        failed=kinds["failed"],
        best=ranked[0] if ranked else None,
        leaderboard=tuple(ranked[:top]),
    )


def _ranked(rows: list[TrialRow]) -> list[TrialRow]:
    """Most accurate first; ties go to the smaller network, then the earlier trial."""
    return sorted(rows, key=lambda r: (-(r.accuracy or 0.0), r.params or 0, r.number))


def results(study: optuna.Study, *, target: int | None = None) -> StudyResults:
    trials = study.get_trials(deepcopy=False)
    rows = tuple(row(trial) for trial in trials)
    objectives = objectives_of(study)
    state = progress(study, target=target, top=TOP)
    return StudyResults(
        progress=state,
        rows=rows,
        best=_best(study, rows, objectives),
        plots=PlotData(
            history=tuple((r.number, r.accuracy, r.outcome) for r in rows if r.accuracy is not None and r.epochs),
            pareto_cost=next((o for o in objectives if o != "accuracy"), "params"),
            importances=_importances(study, objectives),
        ),
    )


def _best(study: optuna.Study, rows: tuple[TrialRow, ...], objectives: tuple[str, ...]) -> tuple[TrialRow, ...]:
    complete = [r for r in rows if r.outcome == "complete"]
    if not complete:
        return ()
    if len(objectives) == 1:
        return (_ranked(complete)[0],)
    front = {trial.number for trial in study.best_trials}
    return tuple(_ranked([r for r in complete if r.number in front]))


def _importances(study: optuna.Study, objectives: tuple[str, ...]) -> dict[str, float]:
    """fANOVA importances of the parameters for accuracy; empty until enough trials vary enough."""
    index = objectives.index("accuracy")
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(complete) < 3:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # direction-agnostic, deterministic
        values = optuna.importance.get_param_importances(study, evaluator=evaluator, target=lambda t: t.values[index])
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
    return {name: value for name, value in values.items() if not math.isnan(value)}
