"""When to stop a trial early: Optuna's pruners with one objective; with several (Optuna's `Trial.report` is
single-objective only), the Pareto rule on the finished trials' recorded histories and exact costs, or the median
rule where a spec asks for it.

The Pareto rule is archgen's answer to a pruner blind to cost: the median rule stops the small, cheap nets that belong
on the cheap end of the front because they are less accurate, and a pruned trial never reaches the front. A trial's
cost (params, MACs, latency) is known exactly before it trains, so it is stopped only when finished trials dominate
it: as accurate at that epoch and no more costly.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from archgen.search import record
from archgen.spec.search_space import SearchSpace
from archgen.statistics import dominates

# MedianPruner's defaults, applied to every rule: judge no trial before this many have finished.
STARTUP_TRIALS = 5
WARMUP_EPOCHS = 0


def make_pruner(space: SearchSpace) -> optuna.pruners.BasePruner:
    """The study's pruner (single objective); several objectives use `dominated_says_prune` or `median_says_prune`
    instead (Optuna's `Trial.report` is single-objective only)."""
    if space.resolved_pruner == "none" or len(space.objectives) > 1:
        return optuna.pruners.NopPruner()
    if space.resolved_pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(space.epochs, 1), reduction_factor=3)
    return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_EPOCHS)


def median_says_prune(
    peers: Sequence[Sequence[Mapping[str, float]]], *, epoch: int, accuracies: Sequence[float]
) -> bool:
    """MedianPruner's rule on recorded histories: prune if the best accuracy so far is below the median of the
    finished peers' best accuracies up to the same epoch (after STARTUP_TRIALS peers have got that far)."""
    if epoch <= WARMUP_EPOCHS:
        return False
    bests = [max(1.0 - float(row["val_error"]) for row in rows[:epoch]) for rows in peers if len(rows) >= epoch]
    if len(bests) < STARTUP_TRIALS:
        return False
    return max(accuracies) < statistics.median(bests)


@dataclass(frozen=True)
class Peer:
    """A finished trial as the Pareto rule reads it: its epochs' records and its costs (the objectives but accuracy,
    in the space's order)."""

    history: Sequence[Mapping[str, float]]
    costs: tuple[float, ...]


DOMINATING_PEERS = 1
"""Finished peers that must dominate a trial at an epoch to stop it (after STARTUP_TRIALS have got that far)."""


def dominated_says_prune(peers: Sequence[Peer], *, epoch: int, accuracies: Sequence[float],
                         costs: Sequence[float]) -> bool:
    """The Pareto rule for several objectives: prune at `epoch` only when at least DOMINATING_PEERS finished peers
    that got that far dominate this trial there, each with a best accuracy up to the epoch at least as high and
    every cost no higher (one of them strictly better), after STARTUP_TRIALS peers have got that far. A trial below
    the median but cheaper than every more accurate peer is never pruned: it may be the front's cheap end."""
    if epoch <= WARMUP_EPOCHS:
        return False
    reached = [peer for peer in peers if len(peer.history) >= epoch]
    if len(reached) < STARTUP_TRIALS:
        return False
    ours = (-max(accuracies[:epoch]), *costs)  # every objective minimised
    dominating = sum(dominates((-_best(peer.history, epoch), *peer.costs), ours) for peer in reached)
    return dominating >= DOMINATING_PEERS


def _best(history: Sequence[Mapping[str, float]], epoch: int) -> float:
    return max(1.0 - float(row["val_error"]) for row in history[:epoch])


def should_prune(trial: optuna.Trial, space: SearchSpace, history: list[dict[str, float]],
                  costs: tuple[float, ...]) -> bool:
    """Whether to stop `trial` after its latest epoch: Optuna's pruner with one objective; with several (Optuna's
    `Trial.report` is single-objective only), the Pareto rule on the finished trials' recorded histories and exact
    costs, or the median rule where the spec asks for it."""
    pruner = space.resolved_pruner
    if pruner == "none":
        return False
    accuracies = [1.0 - row["val_error"] for row in history]
    if len(space.objectives) == 1:
        trial.report(accuracies[-1], len(history))
        return trial.should_prune()
    others = [other for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                                                 TrialState.PRUNED))
              if record.counts(other)]
    if pruner == "median":
        return median_says_prune([record.history(other) for other in others], epoch=len(history),
                                 accuracies=accuracies)
    peers = [Peer(record.history(other), found) for other in others
             if (found := record.costs(other, space.objectives)) is not None]
    return dominated_says_prune(peers, epoch=len(history), accuracies=accuracies, costs=costs)
