"""`archgen search --trials 50` end to end (the shipped default space: digits, 3 epochs per trial), with the
median pruner it ships with and without any pruner, in turn: wall time, trials per hour and epochs trained; over
several seeds, each figure's mean with a 95% t-interval (one seed mixes pruning with sampling luck).

Each arm is one `archgen search` subprocess in a fresh temporary folder (its own journal-file study), so the figures
are what a user sees, training included. The arm without a pruner is a spec that extends `digits-search` and sets
`[search] pruner = "none"`. Epochs are counted from the studies' recorded histories.

    python bench/search_pruner.py                          # 20 trials per arm, seeds 0-2: ~12 min on 2 busy cores
    python bench/search_pruner.py --trials 50 --seeds 0    # the README's row: one seed, 50 trials
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna

from archgen.search import record as outcome
from archgen.statistics import Interval, t_interval

NO_PRUNER = 'extends = "digits-search"\nname = "nopruner"\n\n[search]\npruner = "none"\n'


@dataclass(frozen=True)
class Arm:
    pruner: str
    seconds: float
    """Wall time of the whole `archgen search` command (start-up, training, winners and plots)."""
    complete: int
    pruned: int
    """Trials the pruner stopped after at least one epoch."""
    rejected: int
    """Points rejected before training (over the parameter budget, duplicates): they do not count as trials."""
    epochs: int
    """Epochs trained over all trials (a pruned trial stops early)."""
    best: float | None
    """The best complete trial's final validation accuracy."""

    @property
    def trials_per_hour(self) -> float:
        return (self.complete + self.pruned) * 3600 / self.seconds


@dataclass(frozen=True)
class PrunerComparison:
    trials: int
    epochs_per_trial: int
    pruned: Arm
    unpruned: Arm

    @property
    def time_ratio(self) -> float:
        return self.pruned.seconds / self.unpruned.seconds

    @property
    def epochs_saved(self) -> float:
        return 1 - self.pruned.epochs / self.unpruned.epochs


@dataclass(frozen=True)
class Searched:
    """One `archgen search` command: its study's trials and its wall time."""

    trials: list[optuna.trial.FrozenTrial]
    seconds: float


def run_search(spec: str, study: str, folder: Path, *, trials: int, epochs: int, seed: int) -> Searched:
    """`archgen search SPEC` in `folder` (a fresh study of its own, on the CPU); its study read back."""
    command = [sys.executable, "-m", "archgen", "search", spec, "--trials", str(trials), "--epochs", str(epochs),
               "--seed", str(seed), "--study", study, "--device", "cpu"]
    # Timed as a user runs it: OpenMP's default (spinning) waits. The runner's OMP_WAIT_POLICY=PASSIVE guards
    # concurrent processes, but these run one at a time, and passive waits make small digits nets ~2.4x slower.
    environment = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    began = time.perf_counter()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False,
                            env={**environment, "COLUMNS": "120"})
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        output = result.stderr or result.stdout
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {output[-2000:]}")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "runs" / study / "journal.log")))
    return Searched(optuna.load_study(study_name=study, storage=storage).trials, seconds)


def _arm(spec: str, study: str, pruner: str, folder: Path, *, trials: int, epochs: int, seed: int = 0) -> Arm:
    found = run_search(spec, study, folder, trials=trials, epochs=epochs, seed=seed)
    kinds = [outcome.outcome(trial) for trial in found.trials]
    accuracies = [outcome.accuracy(trial) for trial, kind in zip(found.trials, kinds, strict=True)
                  if kind == "complete"]
    return Arm(pruner=pruner, seconds=found.seconds, complete=kinds.count("complete"), pruned=kinds.count("pruned"),
               rejected=sum(kind in outcome.REJECTED for kind in kinds),
               epochs=sum(outcome.epochs_run(trial) for trial in found.trials),
               best=max((a for a in accuracies if a is not None), default=None))


def measure(*, trials: int = 50, epochs: int = 3, seed: int = 0) -> PrunerComparison:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "nopruner.toml").write_text(NO_PRUNER)
        pruned = _arm("digits-search", "pruned", "median", folder, trials=trials, epochs=epochs, seed=seed)
        unpruned = _arm("nopruner.toml", "unpruned", "none", folder, trials=trials, epochs=epochs, seed=seed)
    return PrunerComparison(trials=trials, epochs_per_trial=epochs, pruned=pruned, unpruned=unpruned)


def spread(values: Sequence[float], *, percent: bool = False) -> str:
    """`mean ± half width` of the 95% t-interval over the seeds."""
    found: Interval = t_interval(values)
    half = found.half_width or 0.0
    return f"{found.mean:.2%} ± {half * 100:.2f}" if percent else f"{found.mean:,.1f} ± {half:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (default: the spec's 3)")
    parser.add_argument("--seeds", default="0,1,2", help="study seeds, comma separated (default: 0,1,2)")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    results = [measure(trials=args.trials, epochs=args.epochs, seed=seed) for seed in seeds]
    print(f"archgen search digits-search --trials {args.trials} --epochs {args.epochs}, seeds {args.seeds}")
    print(f"{'pruner':<8} {'seed':>4} {'wall s':>7} {'complete':>9} {'pruned':>7} {'rejected':>9} {'epochs':>7} "
          f"{'best':>7}")
    for seed, result in zip(seeds, results, strict=True):
        for arm in (result.pruned, result.unpruned):
            best = "-" if arm.best is None else f"{arm.best:.2%}"
            print(f"{arm.pruner:<8} {seed:>4} {arm.seconds:7.1f} {arm.complete:9} {arm.pruned:7} {arm.rejected:9} "
                  f"{arm.epochs:7} {best:>7}")
    print("\n| pruner | seeds | epochs trained | best validation accuracy | wall time (s) |\n|---|---:|---:|---:|---:|")
    for name in ("pruned", "unpruned"):
        arms = [getattr(result, name) for result in results]
        best = spread([arm.best or 0.0 for arm in arms], percent=True) if len(arms) > 1 else f"{arms[0].best:.2%}"
        epochs = spread([arm.epochs for arm in arms]) if len(arms) > 1 else str(arms[0].epochs)
        wall = spread([arm.seconds for arm in arms]) if len(arms) > 1 else f"{arms[0].seconds:.0f}"
        print(f"| {arms[0].pruner} | {len(arms)} | {epochs} | {best} | {wall} |")


if __name__ == "__main__":
    main()
