"""What became of a trial, as archgen records it on the trial (user attributes), and which trials count.

`--trials N` counts *finished* trials: those that trained and gave a result, i.e. COMPLETE, or PRUNED by
the pruner after at least one epoch. Points rejected before training (over budget, not a valid spec,
already tried) are recorded as PRUNED with their reason but do not count; nor do FAILed trials
(NaN, out of memory, a dead worker's), whose slot goes to another trial.
"""

from __future__ import annotations

from typing import Literal

from optuna.trial import FrozenTrial, TrialState

Outcome = Literal["running", "complete", "pruned", "over_budget", "invalid", "duplicate", "failed"]
REJECTED: tuple[Outcome, ...] = ("over_budget", "invalid", "duplicate")

OUTCOME = "outcome"
REASON = "reason"
WORKER = "worker"
HISTORY = "history"
PARAMS = "params"
MACS = "macs"
LATENCY = "latency_ms"
SUMMARY = "architecture"
EPOCHS = "epochs"
SEED = "seed"
HISTORY_KEYS = ("epoch", "train_loss", "train_error", "val_loss", "val_error", "seconds")  # one row per epoch


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


def epochs_run(trial: FrozenTrial) -> int:
    return len(trial.user_attrs.get(HISTORY, []))


def accuracy(trial: FrozenTrial) -> float | None:
    """Final validation accuracy (0-1) of a trained trial; a pruned trial's last reported one."""
    history = trial.user_attrs.get(HISTORY) or []
    if not history:
        return None
    return 1.0 - float(history[-1]["val_error"])


def is_rejected(trial: FrozenTrial) -> bool:
    return outcome(trial) in REJECTED


def point_key(trial: FrozenTrial) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(trial.params.items()))


def attribute_problem(key: str, value: object) -> str | None:
    """What is wrong with one of archgen's trial attributes as a record from elsewhere holds it (archgen reads them
    as these types everywhere); None when it is what archgen writes, or not archgen's."""
    if key in (OUTCOME, REASON, WORKER, SUMMARY):
        return None if isinstance(value, str) else "not a string"
    if key in (PARAMS, MACS, SEED):
        return None if isinstance(value, int) and not isinstance(value, bool) else "not an integer"
    if key == LATENCY:
        return None if _number(value) else "not a number"
    if key == HISTORY:
        rows = value if isinstance(value, list) else [None]
        fine = all(isinstance(row, dict) and all(_number(row.get(name)) for name in HISTORY_KEYS) for row in rows)
        return None if fine else f"not a list of epochs with numbers for {', '.join(HISTORY_KEYS)}"
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
