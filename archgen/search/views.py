"""A study as values a person reads: its trials as rows, its progress, the best trials or Pareto front, plot data,
parameter importances and the degradation verdicts.

Plain frozen dataclasses for `archgen.report` to render; nothing here draws, prints or writes a file.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from archgen.search.depth import Degradation, degradation
from archgen.search.record import (
    GROWN_FROM,
    IMAGES,
    LATENCY,
    MACS,
    PARAMS,
    PLAIN_TRAIN_ERROR,
    PLAIN_VAL_ERROR,
    REASON,
    REJECTED,
    REPEATS,
    SEED,
    SUMMARY,
    WORKER,
    Outcome,
    accuracy,
    epochs_run,
    history,
    objectives_of,
    outcome,
    study_spec,
)
from archgen.statistics import Interval, t_interval

TOP = 10  # the leaderboard's rows in a final report


@dataclass(frozen=True)
class TrialRow:
    """One trial as a person reads it."""

    number: int
    outcome: Outcome
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
    images: tuple[int, int] | None = None
    """(training, validation) images the final errors were measured on."""
    grown_from: int | None = None
    plain_train_error: float | None = None
    plain_val_error: float | None = None
    repeats: tuple[dict[str, float], ...] = ()
    """Each seed's final errors when the point trained from several (`[search] repeats`); `accuracy` is their mean."""

    @property
    def train_error(self) -> float | None:
        """Training error (0-1) after the last epoch (the seeds' mean): far above the validation error's fall, a net
        that cannot fit its data (the paper's degradation) rather than one that overfits it."""
        if self.repeats:
            return sum(float(seed["train_error"]) for seed in self.repeats) / len(self.repeats)
        return float(self.history[-1]["train_error"]) if self.history else None

    @property
    def accuracy_interval(self) -> Interval | None:
        """The seeds' final validation accuracy, mean and 95% t-interval; None for a point trained once."""
        if len(self.repeats) < 2:
            return None
        return t_interval([1.0 - float(seed["val_error"]) for seed in self.repeats])


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
    degradation: Degradation = field(default_factory=Degradation)


def row(trial: FrozenTrial) -> TrialRow:
    attrs = trial.user_attrs
    return TrialRow(
        number=trial.number,
        outcome=outcome(trial),
        point=dict(trial.params),
        accuracy=accuracy(trial),
        params=attrs.get(PARAMS),
        macs=attrs.get(MACS),
        latency_ms=attrs.get(LATENCY),
        seed=attrs.get(SEED),
        epochs=epochs_run(trial),
        architecture=attrs.get(SUMMARY, ""),
        reason=attrs.get(REASON, ""),
        worker=attrs.get(WORKER, ""),
        history=tuple(history(trial)),
        images=_images(attrs.get(IMAGES)),
        grown_from=attrs.get(GROWN_FROM),
        plain_train_error=attrs.get(PLAIN_TRAIN_ERROR),
        plain_val_error=attrs.get(PLAIN_VAL_ERROR),
        repeats=tuple(attrs.get(REPEATS) or ()),
    )


def _images(value: object) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if isinstance(value, list) and len(value) == 2 else None


def progress(study: optuna.Study, *, target: int | None, top: int = 5) -> Progress:
    trials = study.get_trials(deepcopy=False)
    kinds = Counter(outcome(trial) for trial in trials)
    ranked = _ranked([row(trial) for trial in trials if trial.state == TrialState.COMPLETE])
    return Progress(
        study=study.study_name,
        target=target,
        objectives=objectives_of(study),
        finished=kinds["complete"] + kinds["pruned"],
        running=kinds["running"],
        complete=kinds["complete"],
        pruned=kinds["pruned"],
        rejected=sum(kinds[kind] for kind in REJECTED),
        failed=kinds["failed"],
        best=ranked[0] if ranked else None,
        leaderboard=tuple(ranked[:top]),
    )


def _ranked(rows: list[TrialRow]) -> list[TrialRow]:
    """Most accurate first; ties go to the smaller network, then the earlier trial."""
    return sorted(rows, key=lambda r: (-(r.accuracy or 0.0), r.params or 0, r.number))


def study_results(study: optuna.Study, *, target: int | None = None) -> StudyResults:
    rows = tuple(row(trial) for trial in study.get_trials(deepcopy=False))
    objectives = objectives_of(study)
    return StudyResults(
        progress=progress(study, target=target, top=TOP),
        rows=rows,
        best=_best(study, rows, objectives),
        plots=PlotData(
            history=tuple((r.number, r.accuracy, r.outcome) for r in rows if r.accuracy is not None and r.epochs),
            pareto_cost=next((o for o in objectives if o != "accuracy"), "params"),
            importances=_importances(study, objectives),
        ),
        degradation=_degradation(study, rows),
    )


def _degradation(study: optuna.Study, rows: tuple[TrialRow, ...]) -> Degradation:
    """The verdicts among trials that recorded the images their errors were measured on (the real trainer's)."""
    if not any(r.images for r in rows if r.outcome == "complete"):
        return Degradation()
    return degradation(study_spec(study), rows)


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
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 3:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # direction-agnostic, deterministic
        values = optuna.importance.get_param_importances(study, evaluator=evaluator, target=lambda t: t.values[index])
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
    return {name: value for name, value in values.items() if not math.isnan(value)}
