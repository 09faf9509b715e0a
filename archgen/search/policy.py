"""How a study samples and prunes: Optuna samplers and pruners for a space, and pruning with several objectives.

Optuna's `Trial.report` is single-objective only, so with several objectives archgen applies the
median rule itself to the per-epoch accuracies every trial records (the `history` user attribute).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.samplers import BaseSampler, GridSampler
from optuna.trial import FrozenTrial, TrialState

from archgen.search import outcome
from archgen.spec.search_space import SearchSpace

# MedianPruner's defaults, applied to both rules: judge no trial before this many have finished.
STARTUP_TRIALS = 5
WARMUP_EPOCHS = 0
NSGA2_POPULATION = 20


class _Grid(GridSampler):
    """GridSampler without its `study.stop()` (only allowed inside `optimize`); archgen stops when the grid is done."""

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        return None


def make_sampler(space: SearchSpace, *, seed: int, trial_number: int) -> BaseSampler:
    """The sampler that proposes trial `trial_number`; a fresh one per trial, each seeded by (seed, number)."""
    kind = space.resolved_sampler
    if kind == "grid":
        grid: dict[str, Any] = {path: list(param.grid() or ()) for path, param in space.params.items()}
        # the study's own seed: GridSampler shuffles the grid by it, and a grid id must mean one point in every trial
        return _Grid(grid, seed=seed)
    seed = (seed * 1_000_003 + trial_number) % 2**32
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=NSGA2_POPULATION)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    # constant_liar: running trials count as bad, so parallel workers do not propose the same point
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(space: SearchSpace, *, epochs: int) -> optuna.pruners.BasePruner:
    """The study's pruner (single objective); several objectives use `median_says_prune` instead."""
    if space.pruner == "none" or len(space.objectives) > 1:
        return optuna.pruners.NopPruner()
    if space.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_EPOCHS)


def should_prune(trial: optuna.Trial, space: SearchSpace, *, epoch: int, accuracies: Sequence[float]) -> bool:
    """Whether to stop `trial` after `epoch` (1-based) given its accuracies so far."""
    if space.pruner == "none":
        return False
    if len(space.objectives) == 1:
        trial.report(accuracies[-1], epoch)
        return trial.should_prune()
    others = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return median_says_prune(others, epoch=epoch, accuracies=accuracies)


def median_says_prune(others: Sequence[FrozenTrial], *, epoch: int, accuracies: Sequence[float]) -> bool:
    """MedianPruner's rule on recorded accuracies: prune if the best so far is below the median of the
    other trained trials' best accuracies up to the same epoch (after STARTUP_TRIALS have finished)."""
    if epoch <= WARMUP_EPOCHS:
        return False
    peers = []
    for other in others:
        history = other.user_attrs.get(outcome.HISTORY) or []
        if outcome.counts(other) and len(history) >= epoch:
            peers.append(max(1.0 - float(row["val_error"]) for row in history[:epoch]))
    if len(peers) < STARTUP_TRIALS:
        return False
    return max(accuracies) < statistics.median(peers)
