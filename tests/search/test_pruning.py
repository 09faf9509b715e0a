"""The Pareto pruner (several objectives): a trial is stopped at epoch e only when enough finished peers that got that
far dominate it there (as accurate, no more costly), never for being below the median alone. Synthetic histories with
known answers; the median rule of before is the control."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from conftest import TINY, write_spec
from optuna.trial import TrialState

import archgen
from archgen.search import resolve_spec
from archgen.search.pruning import STARTUP_TRIALS, Peer, dominated_says_prune, median_says_prune, should_prune


def history(*val_errors: float) -> list[dict[str, float]]:
    return [{"epoch": index + 1, "val_error": error} for index, error in enumerate(val_errors)]


# five finished peers: accuracy at epoch 1 of 80-90%, each ten times the parameters of the cheapest trial below
PEERS = [Peer(history(error, error / 2), (10_000.0,)) for error in (0.10, 0.12, 0.14, 0.16, 0.20)]


def test_the_cheapest_trial_below_the_median_is_kept_a_dominated_one_is_not() -> None:
    cheap = {"accuracies": [0.70], "costs": (1_000.0,)}  # 70%: below every peer, and the cheapest by far
    assert not dominated_says_prune(PEERS, epoch=1, **cheap)
    # control: the median rule of before prunes it (70% < the median 86%), so the front loses its cheap end
    assert median_says_prune([peer.history for peer in PEERS], epoch=1, accuracies=cheap["accuracies"])
    # as costly as the peers and less accurate than one of them: dominated, so stopped
    assert dominated_says_prune(PEERS, epoch=1, accuracies=[0.85], costs=(10_000.0,))
    # more accurate than every peer at their cost: nothing dominates it
    assert not dominated_says_prune(PEERS, epoch=1, accuracies=[0.95], costs=(10_000.0,))


def test_dominance_needs_every_cost_no_higher_and_one_objective_better() -> None:
    peers = [Peer(history(0.10), (100.0, 5_000.0))] * STARTUP_TRIALS
    assert not dominated_says_prune(peers, epoch=1, accuracies=[0.80], costs=(200.0, 1_000.0))  # fewer MACs
    assert dominated_says_prune(peers, epoch=1, accuracies=[0.80], costs=(200.0, 5_000.0))
    assert not dominated_says_prune(peers, epoch=1, accuracies=[0.90], costs=(100.0, 5_000.0))  # equal: not worse


def test_only_peers_that_reached_the_epoch_count_and_not_before_enough_have() -> None:
    few = PEERS[: STARTUP_TRIALS - 1]
    assert not dominated_says_prune(few, epoch=1, accuracies=[0.5], costs=(20_000.0,))
    short = [Peer(history(0.10), (10_000.0,))] * STARTUP_TRIALS  # one epoch each: nothing to say at epoch 2
    assert not dominated_says_prune(short, epoch=2, accuracies=[0.5, 0.5], costs=(20_000.0,))
    assert dominated_says_prune(short, epoch=1, accuracies=[0.5], costs=(20_000.0,))


def test_a_trial_is_judged_on_its_best_accuracy_so_far_against_the_peers_best_up_to_that_epoch() -> None:
    peers = [Peer(history(0.30, 0.10), (10_000.0,))] * STARTUP_TRIALS  # 70% then 90%
    assert not dominated_says_prune(peers, epoch=1, accuracies=[0.75], costs=(10_000.0,))  # 75% beats their 70%
    assert dominated_says_prune(peers, epoch=2, accuracies=[0.75, 0.72], costs=(10_000.0,))


# --- on a study: the peers' costs as the trials recorded them --------------------------------------------------

PARETO = TINY.replace('pruner = "none"\n', 'objectives = ["accuracy", "params"]\n{pruner}\n')


def judged(tmp_path: Path, pruner: str, *, accuracy: float, params: int) -> bool:
    """Whether a trial of `params` parameters at `accuracy` after epoch 1 is stopped, among five finished trials of
    10,000 parameters at 80-90% (one pruned after its first epoch: it counts as a peer too)."""
    spec = resolve_spec(archgen.load_spec(write_spec(tmp_path, PARETO.replace("{pruner}", pruner))))
    assert spec.search is not None
    study = optuna.create_study(directions=["maximize", "minimize"])
    for number, error in enumerate((0.10, 0.12, 0.14, 0.16, 0.20)):
        rows = history(error, error / 2)[: 1 if number == 4 else 2]
        attrs = {"outcome": "pruned" if number == 4 else "complete", "history": rows, "params": 10_000}
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.PRUNED if number == 4 else TrialState.COMPLETE,
            values=None if number == 4 else [1 - error / 2, 10_000], user_attrs=attrs))
    trial = study.ask()
    trial.set_user_attr("params", params)
    return should_prune(trial, spec.search, history(1 - accuracy), (float(params),))


def test_a_pareto_search_keeps_its_cheapest_trial_and_the_median_rule_does_not(tmp_path: Path) -> None:
    assert not judged(tmp_path, "", accuracy=0.70, params=1_000)  # the default of several objectives: pareto
    assert judged(tmp_path, "", accuracy=0.85, params=10_000)  # as costly, less accurate: dominated
    assert judged(tmp_path, 'pruner = "median"', accuracy=0.70, params=1_000)  # control: the median rule prunes it
    assert not judged(tmp_path, 'pruner = "none"', accuracy=0.10, params=10_000)


def test_pareto_with_accuracy_alone_is_refused_at_its_line(tmp_path: Path) -> None:
    text = TINY.replace('pruner = "none"', 'pruner = "pareto"')
    with pytest.raises(archgen.SpecError) as caught:
        archgen.load_spec(write_spec(tmp_path, text))
    [problem] = caught.value.problems
    assert str(problem) == (f"{tmp_path / 'space.toml'}:22: search.pruner: pareto prunes a trial that others "
                            "dominate in accuracy and cost, but accuracy is the only objective; use 'median' or "
                            "'hyperband'")
