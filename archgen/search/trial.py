"""Running one claimed trial: reject bad points in milliseconds, else train with per-epoch pruning, then tell.

An over-budget, invalid or duplicate point is told PRUNED (with its reason and, for budgets, an Optuna
constraint violation) rather than FAIL: TPE and NSGA-II learn from pruned and infeasible trials to avoid
such regions, while failed trials would be ignored and proposed again. NaN and out-of-memory trials are
FAIL with the reason; anything unexpected is FAIL too, and stops the search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from archgen.analysis import analyze, check_budget
from archgen.errors import SearchError, redacted
from archgen.search import outcome
from archgen.search.claims import Claim
from archgen.search.config import SearchConfig, Trainer
from archgen.search.liveness import heartbeat
from archgen.search.policy import should_prune
from archgen.search.proposal import summary, try_point_spec
from archgen.search.signals import Stopped
from archgen.spec.schema import NetSpec


@dataclass(frozen=True)
class TrialReport:
    """What happened to one trial, for the live view."""

    number: int
    outcome: outcome.Outcome
    reason: str = ""


def run_claimed(
    study: optuna.Study, claim: Claim, config: SearchConfig, *, on_epoch: Callable[[], None] | None = None
) -> TrialReport:
    """Run `claim` to the end and tell the study; raises SearchError for an unexpected error (after telling FAIL)."""
    trial, space = claim.trial, config.space
    if claim.duplicate_of is not None:
        return _reject(study, trial, "duplicate", f"same point as trial {claim.duplicate_of}")
    spec = try_point_spec(config.spec, claim.point, number=trial.number, epochs=space.epochs)
    if isinstance(spec, str):
        return _reject(study, trial, "invalid", spec)
    cost = analyze(spec)  # exact and torch-free: milliseconds, before anything is built
    trial.set_user_attr(outcome.PARAMS, cost.params)
    trial.set_user_attr(outcome.MACS, cost.macs)
    trial.set_user_attr(outcome.SUMMARY, summary(spec))
    _set_constraints(trial, config, cost.params, cost.macs)
    verdict = check_budget(space, cost)
    if not verdict.fits:
        return _reject(study, trial, "over_budget", f"over budget: {verdict.reason}")
    with heartbeat(config.storage, study, trial._trial_id):
        return _train(study, trial, spec, config, on_epoch=on_epoch)


def _reject(study: optuna.Study, trial: optuna.Trial, kind: outcome.Outcome, reason: str) -> TrialReport:
    if kind != "over_budget":  # (over-budget trials carry their budget constraints already)
        trial.set_constraint("rejected", 1.0)  # infeasible: TPE and NSGA-II rank it below every trained trial
    trial.set_user_attr(outcome.OUTCOME, kind)
    trial.set_user_attr(outcome.REASON, reason)
    _tell(study, trial, state=optuna.trial.TrialState.PRUNED)
    return TrialReport(trial.number, kind, reason)


def _set_constraints(trial: optuna.Trial, config: SearchConfig, params: int, macs: int) -> None:
    space = config.space
    if space.max_params is not None:
        trial.set_constraint("max_params", params / space.max_params - 1.0)
    if space.max_macs is not None:
        trial.set_constraint("max_macs", macs / space.max_macs - 1.0)


def _train(
    study: optuna.Study,
    trial: optuna.Trial,
    spec: NetSpec,
    config: SearchConfig,
    *,
    on_epoch: Callable[[], None] | None,
) -> TrialReport:
    space, history = config.space, []
    latency = _latency(spec, config) if "latency" in space.objectives else None
    if latency is not None:
        trial.set_user_attr(outcome.LATENCY, latency)
    seed = spec.train.seed + config.seed + trial.number
    trial.set_user_attr(outcome.SEED, seed)

    def record(metrics: Any) -> None:
        history.append(_row(metrics))
        trial.set_user_attr(outcome.HISTORY, history)
        if on_epoch is not None:
            on_epoch()
        accuracies = [1.0 - row["val_error"] for row in history]
        if should_prune(trial, space, epoch=len(history), accuracies=accuracies):
            raise optuna.TrialPruned(f"pruned after epoch {len(history)}")

    try:
        _trainer(config)(
            spec,
            data=spec.train.data,
            epochs=space.epochs,
            batch_size=None,
            lr=None,
            device=config.device,
            seed=seed,
            out=None,
            on_epoch=record,
        )
    except optuna.TrialPruned as pruned:
        return _finish(study, trial, "pruned", str(pruned), state=optuna.trial.TrialState.PRUNED)
    except UpdateFinishedTrialError:
        return _taken_over(trial)
    except (KeyboardInterrupt, Stopped):
        raise  # not the trial's fault: the worker loop fails this worker's running trials (liveness.fail_own)
    except BaseException as error:
        kind = _classify(error)
        if kind == "failure":
            return _finish(
                study, trial, "failed", f"{type(error).__name__}: {error}", state=optuna.trial.TrialState.FAIL
            )
        if kind == "stopped":
            _finish(study, trial, "failed", "stopped: the worker was interrupted", state=optuna.trial.TrialState.FAIL)
            raise
        reason = redacted(f"{type(error).__name__}: {error}".splitlines()[0], url=config.storage.url)
        _finish(study, trial, "failed", f"error: {reason}", state=optuna.trial.TrialState.FAIL)
        raise SearchError(f"trial {trial.number} stopped the search with an unexpected error: {reason}") from error
    if not history:
        return _finish(study, trial, "failed", "the trainer reported no epoch", state=optuna.trial.TrialState.FAIL)
    values = _values(space.objectives, history, trial, latency)
    return _finish(study, trial, "complete", "", values=values)


def _row(metrics: Any) -> dict[str, float]:
    return {key: float(getattr(metrics, key)) for key in outcome.HISTORY_KEYS}


def _values(
    objectives: tuple[str, ...], history: list[dict[str, float]], trial: optuna.Trial, latency: float | None
) -> list[float]:
    attrs = trial.user_attrs
    table = {
        "accuracy": 1.0 - history[-1]["val_error"],
        "params": attrs[outcome.PARAMS],
        "macs": attrs[outcome.MACS],
        "latency": latency,
    }
    return [float(table[objective] or 0.0) for objective in objectives]


def _latency(spec: NetSpec, config: SearchConfig) -> float:
    from archgen.search.latency import measure_latency

    return measure_latency(spec, device=config.device)


def _finish(
    study: optuna.Study,
    trial: optuna.Trial,
    kind: outcome.Outcome,
    reason: str,
    *,
    state: optuna.trial.TrialState | None = None,
    values: list[float] | None = None,
) -> TrialReport:
    try:
        trial.set_user_attr(outcome.OUTCOME, kind)
        trial.set_user_attr(outcome.REASON, reason)
    except UpdateFinishedTrialError:
        return _taken_over(trial)
    _tell(study, trial, state=state, values=values)
    return TrialReport(trial.number, kind, reason)


def _taken_over(trial: optuna.Trial) -> TrialReport:
    # Another worker saw no heartbeat in time, failed this trial as stale and queued its point again:
    # the storage keeps that verdict, and this worker's result is dropped rather than crashing it.
    return TrialReport(trial.number, "failed", "failed as stale by another worker; this result was dropped")


def _tell(
    study: optuna.Study,
    trial: optuna.Trial,
    *,
    state: optuna.trial.TrialState | None = None,
    values: list[float] | None = None,
) -> None:
    # skip if finished: another worker judged this trial stale and failed it; its point was queued again
    study.tell(trial, values, state=state, skip_if_finished=True)


def _trainer(config: SearchConfig) -> Trainer:
    if config.trainer is not None:
        return config.trainer
    from archgen.pipeline import train_spec

    return train_spec


def _classify(error: BaseException) -> str:
    """Whether `error` fails this trial only (NaN loss, out of memory: "failure"), is a signal, or is a bug."""
    import torch  # imported only once a trial raised: the trainer has loaded it already

    from archgen.train import NonFiniteLoss, OutOfMemory, TrainingStopped

    if isinstance(error, NonFiniteLoss | OutOfMemory | torch.cuda.OutOfMemoryError):
        return "failure"
    return "stopped" if isinstance(error, TrainingStopped) else "error"
