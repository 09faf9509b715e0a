"""One claimed trial settled: its spec made and costed, rejected in milliseconds or trained with per-epoch pruning (and
TensorBoard events), then told to the study. Claiming it is `claim`'s.

An over-budget, invalid or duplicate point is told PRUNED (with its reason and an Optuna constraint violation) rather
than FAIL: TPE and NSGA-II learn from pruned and infeasible trials to avoid such regions, while failed trials would be
ignored and proposed again. NaN and out-of-memory trials are FAIL with the reason; anything unexpected is FAIL too,
and stops the search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from archgen.analysis import BudgetCheck, Complexity, analyze, check_budget
from archgen.errors import ArchgenError, SearchError, printable, redacted
from archgen.search import depth, record
from archgen.search.claim import Claim
from archgen.search.liveness import Stopped, heartbeat
from archgen.search.outputs import make_folder
from archgen.search.pruning import should_prune
from archgen.search.record import Outcome
from archgen.search.runner import classify, load_trainer, repeats
from archgen.search.space import summary, try_trial_spec
from archgen.search.study import SearchConfig
from archgen.spec.schema import NetSpec
from archgen.spec.search_space import SearchSpace
from archgen.training import (
    EpochMetrics,
    Listener,
    RunPlan,
    StepProgress,
)

if TYPE_CHECKING:
    from torch import nn

    from archgen.training.tensorboard import TensorBoard

BUDGETS = {"max_params": "params", "max_macs": "macs", "max_activations": "acts"}  # a space's budget: what it bounds


# --- settling a claim -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialReport:
    """What happened to one trial, for the live view."""

    number: int
    outcome: Outcome
    reason: str = ""


def settle(
    study: optuna.Study, claim: Claim, config: SearchConfig, *, on_epoch: Callable[[], None] | None = None
) -> TrialReport:
    """Reject or train `claim`, and tell the study; raises SearchError for an unexpected error (after telling FAIL).

    Another worker may fail the trial as stale at any write, before training as well as during it: the trial is
    then dropped, not this worker (its point was queued again).
    """
    try:
        return _settle(study, claim, config, on_epoch=on_epoch)
    except UpdateFinishedTrialError:
        return _taken_over(claim.trial)


def _settle(
    study: optuna.Study, claim: Claim, config: SearchConfig, *, on_epoch: Callable[[], None] | None
) -> TrialReport:
    trial, space = claim.trial, config.space
    if claim.duplicate_of is not None:
        return _reject(study, trial, "duplicate", f"same point as trial {claim.duplicate_of}")
    seed = config.spec.train.seed + config.seed + trial.number
    spec = try_trial_spec(config.spec, claim.point, number=trial.number, seed=seed)
    if isinstance(spec, str):
        return _reject(study, trial, "invalid", spec)
    cost = analyze(spec)  # exact and torch-free: milliseconds, before anything is built; used for all that follows
    verdict = check_budget(space, cost)
    trial.set_user_attr(record.PARAMS, cost.params)
    trial.set_user_attr(record.MACS, cost.macs)
    trial.set_user_attr(record.SUMMARY, summary(spec))
    for key, value in constraints(space, cost, verdict).items():
        trial.set_constraint(key, value)
    if not verdict.fits:
        return _reject(study, trial, "over_budget", f"over budget: {verdict.reason}")
    with heartbeat(config.storage, study, trial):
        return _train(study, trial, spec, cost, config, on_epoch=on_epoch)


def constraints(space: SearchSpace, cost: Complexity, verdict: BudgetCheck) -> dict[str, float]:
    """Optuna's constraint values (<= 0: feasible) for each budget of the space, as fractions over it; a budget
    check_budget refuses that this table does not know yet is infeasible all the same."""
    limits = {key: (getattr(space, key, None), getattr(cost, attribute, 0)) for key, attribute in BUDGETS.items()}
    values = {key: used / limit - 1.0 for key, (limit, used) in limits.items() if limit is not None}
    if not verdict.fits:
        values.setdefault(verdict.field, 1.0)
    return values


def _reject(study: optuna.Study, trial: optuna.Trial, kind: Outcome, reason: str) -> TrialReport:
    if kind != "over_budget":  # (over-budget trials carry their budget constraints already)
        trial.set_constraint("rejected", 1.0)  # infeasible: TPE and NSGA-II rank it below every trained trial
    trial.set_user_attr(record.OUTCOME, kind)
    trial.set_user_attr(record.REASON, reason)
    _tell(study, trial, state=TrialState.PRUNED)
    return TrialReport(trial.number, kind, reason)


@dataclass
class TrialListener(Listener):
    """What a trial hears of its training: each epoch logged to TensorBoard, recorded on the trial, shown, then judged
    by the pruner (raising TrialPruned stops the training). Every event goes to `board` first (the trial's TensorBoard
    listener, composed: it imports torch, which only a worker that trains may load), each method by name, so a
    Listener method added later is one this class must name too (tests/search/test_trial.py)."""

    trial: optuna.Trial
    space: SearchSpace
    board: Listener
    on_shown: Callable[[], None] | None = None
    kept: depth.Kept | None = None
    """Where the trained weights and their fitted spec are kept (`search.grow`: a deeper trial may grow from them)."""
    history: list[dict[str, float]] = field(default_factory=list)
    fitted: NetSpec | None = None
    costs: tuple[float, ...] = ()
    """The trial's cost objectives (params, MACs, latency: those the space minimises), known before it trains."""

    def on_start(self, plan: RunPlan) -> None:
        self.board.on_start(plan)
        self.fitted = plan.spec
        self.trial.set_user_attr(record.IMAGES, [plan.train_images, plan.val_images])  # what the verdicts weigh

    def on_progress(self, progress: StepProgress) -> None:
        self.board.on_progress(progress)

    def on_note(self, note: str) -> None:
        self.board.on_note(note)

    def on_trained(self, model: nn.Module) -> None:
        self.board.on_trained(model)
        if self.kept is not None and self.fitted is not None:
            self.kept.keep(self.trial.number, model, self.fitted)

    def on_epoch(self, metrics: EpochMetrics) -> None:
        self.board.on_epoch(metrics)
        self.history.append({key: float(getattr(metrics, key)) for key in record.HISTORY_KEYS})
        self.trial.set_user_attr(record.HISTORY, self.history)
        if self.on_shown is not None:
            self.on_shown()
        if should_prune(self.trial, self.space, self.history, self.costs):
            raise optuna.TrialPruned(f"pruned after epoch {len(self.history)}")


def _train(
    study: optuna.Study,
    trial: optuna.Trial,
    spec: NetSpec,
    cost: Complexity,
    config: SearchConfig,
    *,
    on_epoch: Callable[[], None] | None,
) -> TrialReport:
    space = config.space
    latency = latency_objective(spec, device=config.device) if "latency" in space.objectives else None
    if latency is not None:
        trial.set_user_attr(record.LATENCY, latency)
    trial.set_user_attr(record.SEED, spec.train.seed)
    kept = depth.Kept(config.out, config.study, force=config.force) if space.grow else None
    try:
        board = _tensorboard(config, trial.number)
    except ArchgenError as error:  # the study folder refused it: the trial fails, and the search stops with its line
        _finish(study, trial, "failed", str(error), state=TrialState.FAIL)
        raise
    with board:
        table = {"params": cost.params, "macs": cost.macs, "latency": latency}
        costs = tuple(float(table[o] or 0.0) for o in space.objectives if o != "accuracy")
        listener = TrialListener(trial, space, board, on_epoch, kept=kept, costs=costs)
        try:
            start = depth.grown_start(_ranked(study), trial, spec, kept) if kept is not None else spec
            load_trainer(config)(start, device=config.device, listener=listener)
        except optuna.TrialPruned as pruned:
            return _finish(study, trial, "pruned", str(pruned), state=TrialState.PRUNED)
        except UpdateFinishedTrialError:
            return _taken_over(trial)
        except (KeyboardInterrupt, Stopped):
            raise  # not the trial's fault: the worker loop fails this worker's running trials (liveness.fail_own)
        except BaseException as error:
            return _failed(study, trial, error, config)
    if not listener.history:
        return _finish(study, trial, "failed", "the trainer reported no epoch", state=TrialState.FAIL)
    twin = space.plain_twin and spec.body.residual
    try:
        seeds = repeats(trial, start, listener.history[-1], config, twin=twin)
    except (KeyboardInterrupt, Stopped):
        raise
    except UpdateFinishedTrialError:
        return _taken_over(trial)
    except BaseException as error:
        return _failed(study, trial, error, config)
    accuracy = 1.0 - sum(seed["val_error"] for seed in seeds) / len(seeds)
    table = {"accuracy": accuracy, "params": cost.params, "macs": cost.macs, "latency": latency}
    return _finish(study, trial, "complete", "", values=[float(table[o] or 0.0) for o in space.objectives])


def _ranked(study: optuna.Study) -> list[int]:
    """The complete trials' numbers, most accurate first (a grown trial starts from the first it can grow from)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [trial.number for trial in sorted(complete, key=lambda t: (-(record.accuracy(t) or 0.0), t.number))]


def _tensorboard(config: SearchConfig, number: int) -> TensorBoard:
    """The TensorBoard listener of trial `number`, writing into <study folder>/tensorboard/trial-N/, a folder the
    study owns (refused, OutputExists, where another study's events are)."""
    from archgen.training.tensorboard import EVENTS, TensorBoard  # torch: only a worker that trains imports it

    folder = make_folder(config.out, f"{EVENTS}/trial-{number}", study=config.study, force=config.force)
    try:
        return TensorBoard(folder)
    except OSError as error:
        raise SearchError(f"cannot write TensorBoard events into {printable(str(folder))}: {error.strerror}") from None


def _failed(study: optuna.Study, trial: optuna.Trial, error: BaseException, config: SearchConfig) -> TrialReport:
    """Fail the trial with its reason; re-raise a signal the trainer turned into TrainingStopped; a bug stops the
    search in one line."""
    kind = classify(error)
    if kind == "failure":
        return _finish(study, trial, "failed", f"{type(error).__name__}: {error}", state=TrialState.FAIL)
    if kind == "stopped":
        _finish(study, trial, "failed", "stopped: the worker was interrupted", state=TrialState.FAIL)
        raise error
    reason = redacted(f"{type(error).__name__}: {error}".splitlines()[0], url=config.storage.url)
    _finish(study, trial, "failed", f"error: {reason}", state=TrialState.FAIL)
    raise SearchError(f"trial {trial.number} stopped the search with an unexpected error: {reason}") from error


def _finish(
    study: optuna.Study,
    trial: optuna.Trial,
    kind: Outcome,
    reason: str,
    *,
    state: TrialState | None = None,
    values: list[float] | None = None,
) -> TrialReport:
    try:
        trial.set_user_attr(record.OUTCOME, kind)
        trial.set_user_attr(record.REASON, reason)
    except UpdateFinishedTrialError:
        return _taken_over(trial)
    _tell(study, trial, state=state, values=values)
    return TrialReport(trial.number, kind, reason)


def _taken_over(trial: optuna.Trial) -> TrialReport:
    # Another worker saw no heartbeat in time, failed this trial as stale and queued its point again:
    # the storage keeps that verdict, and this worker's result is dropped rather than crashing it.
    return TrialReport(trial.number, "failed", "failed as stale by another worker; this result was dropped")


def _tell(
    study: optuna.Study, trial: optuna.Trial, *, state: TrialState | None = None, values: list[float] | None = None
) -> None:
    # skip if finished: another worker judged this trial stale and failed it; its point was queued again
    study.tell(trial, values, state=state, skip_if_finished=True)


# --- the latency objective ------------------------------------------------------------------------------------------


def latency_objective(spec: NetSpec, *, device: str) -> float:
    """The trial's latency in milliseconds: its untrained network (latency does not depend on weights) timed on the
    device the trial trains on, `--device` read as the trainer reads it (`auto` and `cuda` name that GPU)."""
    from archgen.compile import build_model
    from archgen.compile.latency import measure_latency
    from archgen.devices import select_device

    target = select_device(device)
    shape = (spec.input.channels, spec.input.size, spec.input.size)
    return measure_latency(build_model(spec), shape, device=target)
