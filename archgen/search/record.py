"""What archgen records on a study and its trials: the user-attribute names, and the readers of one trial's record
(its outcome, history, accuracy, point) and of the study's (its resolved spec, its objectives).

Names and readers only: the views over many trials are `views`, the files a study writes are `outputs`.
"""

from __future__ import annotations

from typing import Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from archgen.errors import SearchError, SpecError, printable
from archgen.spec.schema import NetSpec

# `--trials N` counts *finished* trials: those that trained and gave a result, i.e. COMPLETE, or PRUNED by the pruner
# after at least one epoch. Points rejected before training (over budget, not a valid spec, already tried) are
# recorded as PRUNED with their reason but do not count; nor do FAILed trials (NaN, out of memory, a dead worker's),
# whose slot goes to another trial.

Outcome = Literal["running", "complete", "pruned", "over_budget", "invalid", "duplicate", "failed"]
REJECTED: tuple[Outcome, ...] = ("over_budget", "invalid", "duplicate")

RESOLVED = "archgen.search_spec"  # the study's resolved search spec (a study user attribute)
OUTCOME = "outcome"  # the trial user attributes
REASON = "reason"
WORKER = "worker"
HISTORY = "history"
PARAMS = "params"
MACS = "macs"
LATENCY = "latency_ms"
SUMMARY = "architecture"
SEED = "seed"
IMAGES = "images"  # [training, validation] images the final errors were measured on
GROWN_FROM = "grown_from"  # the complete trial a grown trial started from (search.depth)
PLAIN_TRAIN_ERROR = "plain_train_error"  # the plain twin's final errors (search.depth)
PLAIN_VAL_ERROR = "plain_val_error"
PLAIN_REASON = "plain_reason"  # why a point has no plain twin's errors
REPEATS = "repeats"  # [search] repeats > 1: each seed's final errors, the first seed's included
ENQUEUED = "enqueued"  # the [search] enqueue entry a trial's point came from
IMPORTED = "imported_from"  # the study and trial an imported trial was trained in (`--from-study`)
HISTORY_KEYS = ("epoch", "train_loss", "train_error", "val_loss", "val_error", "seconds")  # one row per epoch
REPEAT_KEYS = ("seed", "train_loss", "train_error", "val_loss", "val_error")  # one row per seed
PLAIN_KEYS = ("plain_train_error", "plain_val_error")  # and, with a plain twin, its final errors from that seed


def outcome(trial: FrozenTrial) -> Outcome:
    """The trial's outcome; trials from before archgen recorded one fall back to their state."""
    recorded = trial.user_attrs.get(OUTCOME)
    if trial.state == TrialState.RUNNING:
        return "running"
    if trial.state == TrialState.COMPLETE:
        return "complete"
    if trial.state == TrialState.FAIL:
        return "failed"
    if trial.state == TrialState.PRUNED:
        return recorded if recorded in (*REJECTED, "pruned") else "pruned"
    return "running"  # WAITING: a retry queued for the next worker


def counts(trial: FrozenTrial) -> bool:
    """Whether the trial is one of the `--trials N`: it trained and gave a result."""
    return outcome(trial) in ("complete", "pruned")


def settled_point(trial: FrozenTrial) -> bool:
    """Whether the trial's point needs no further trial (trained, or rejected for good)."""
    return outcome(trial) in ("complete", "pruned", "over_budget", "invalid")


def history(trial: FrozenTrial) -> list[dict[str, float]]:
    return list(trial.user_attrs.get(HISTORY) or [])


def epochs_run(trial: FrozenTrial) -> int:
    return len(history(trial))


def accuracy(trial: FrozenTrial) -> float | None:
    """Final validation accuracy (0-1) of a trained trial, the mean over its seeds when it trained from several; a
    pruned trial's last reported one."""
    seeds = repeats(trial)
    if len(seeds) > 1:
        return 1.0 - sum(float(seed["val_error"]) for seed in seeds) / len(seeds)
    rows = history(trial)
    return 1.0 - float(rows[-1]["val_error"]) if rows else None


def repeats(trial: FrozenTrial) -> list[dict[str, float]]:
    """Each seed's final errors (`[search] repeats`), or [] for a trial trained once."""
    return list(trial.user_attrs.get(REPEATS) or [])


COST_ATTRIBUTES = {"params": PARAMS, "macs": MACS, "latency": LATENCY}  # each cost objective's trial attribute


def costs(trial: FrozenTrial, objectives: tuple[str, ...]) -> tuple[float, ...] | None:
    """The trial's costs for `objectives` but accuracy, in their order, as recorded before it trained; None when one
    is missing (a trial rejected before it was costed)."""
    found = [trial.user_attrs.get(COST_ATTRIBUTES[objective]) for objective in objectives if objective != "accuracy"]
    numbers = [float(value) for value in found if isinstance(value, int | float) and not isinstance(value, bool)]
    return tuple(numbers) if len(numbers) == len(found) else None


def point_key(trial: FrozenTrial) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(trial.params.items()))


def attribute_problem(key: str, value: object) -> str | None:
    """What is wrong with one of archgen's trial attributes as a record from elsewhere holds it (archgen reads them
    as these types everywhere); None when it is what archgen writes, or not archgen's."""
    if key in (OUTCOME, REASON, WORKER, SUMMARY, PLAIN_REASON, ENQUEUED, IMPORTED):
        return None if isinstance(value, str) else "not a string"
    if key in (PARAMS, MACS, SEED, GROWN_FROM):
        return None if isinstance(value, int) and not isinstance(value, bool) else "not an integer"
    if key in (LATENCY, PLAIN_TRAIN_ERROR, PLAIN_VAL_ERROR):
        return None if _number(value) else "not a number"
    if key == IMAGES:
        fine = isinstance(value, list) and len(value) == 2 and all(_number(count) for count in value)
        return None if fine else "not a list of two image counts"
    if key == HISTORY:
        rows = value if isinstance(value, list) else [None]
        fine = all(isinstance(row, dict) and all(_number(row.get(name)) for name in HISTORY_KEYS) for row in rows)
        return None if fine else f"not a list of epochs with numbers for {', '.join(HISTORY_KEYS)}"
    if key == REPEATS:
        rows = value if isinstance(value, list) else [None]
        fine = all(isinstance(row, dict) and all(_number(row.get(name)) for name in REPEAT_KEYS)
                   and all(_number(row[name]) for name in PLAIN_KEYS if name in row) for row in rows)
        return None if fine else f"not a list of seeds with numbers for {', '.join(REPEAT_KEYS)}"
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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


def objectives_of(study: optuna.Study) -> tuple[str, ...]:
    """The study's objectives as its search spec names them (accuracy alone if the spec does not say)."""
    resolved = study.user_attrs.get(RESOLVED)
    search = resolved.get("search") if isinstance(resolved, dict) else None
    objectives = search.get("objectives") if isinstance(search, dict) else None
    if isinstance(objectives, list) and "accuracy" in objectives and all(isinstance(o, str) for o in objectives):
        return tuple(objectives)
    return ("accuracy",)
