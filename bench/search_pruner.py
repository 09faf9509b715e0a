"""`archgen search --trials 50` end to end (the shipped default space: digits, 3 epochs per trial), with the
median pruner it ships with and without any pruner, in turn: wall time, trials per hour and epochs trained.

Each arm is one `archgen search` subprocess in a fresh temporary folder (its own journal-file study), seed 0,
so the figures are what a user sees, training included. The arm without a pruner is a spec that extends
`digits-search` and sets `[search] pruner = "none"`. Epochs are counted from the study's intermediate values.

    python bench/search_pruner.py                 # 50 trials per arm; ~1.5 minutes on 2 idle cores
    python bench/search_pruner.py --trials 10 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from archgen.search import record as outcome

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


def _arm(spec: str, study: str, pruner: str, folder: Path, *, trials: int, epochs: int) -> Arm:
    command = [sys.executable, "-m", "archgen", "search", spec, "--trials", str(trials), "--epochs", str(epochs),
               "--seed", "0", "--study", study, "--device", "cpu"]
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
    found = optuna.load_study(study_name=study, storage=storage).trials
    kinds = [outcome.outcome(trial) for trial in found]
    accuracies = [outcome.accuracy(trial) for trial, kind in zip(found, kinds, strict=True) if kind == "complete"]
    return Arm(pruner=pruner, seconds=seconds, complete=kinds.count("complete"), pruned=kinds.count("pruned"),
               rejected=sum(kind in outcome.REJECTED for kind in kinds),
               epochs=sum(outcome.epochs_run(trial) for trial in found),
               best=max((a for a in accuracies if a is not None), default=None))


def measure(*, trials: int = 50, epochs: int = 3) -> PrunerComparison:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "nopruner.toml").write_text(NO_PRUNER)
        pruned = _arm("digits-search", "pruned", "median", folder, trials=trials, epochs=epochs)
        unpruned = _arm("nopruner.toml", "unpruned", "none", folder, trials=trials, epochs=epochs)
    return PrunerComparison(trials=trials, epochs_per_trial=epochs, pruned=pruned, unpruned=unpruned)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (default: the spec's 3)")
    args = parser.parse_args()
    result = measure(trials=args.trials, epochs=args.epochs)
    print(f"archgen search digits-search --trials {result.trials} --epochs {result.epochs_per_trial}, seed 0")
    print(f"{'pruner':<8} {'wall s':>7} {'trials/h':>9} {'complete':>9} {'pruned':>7} {'rejected':>9} "
          f"{'epochs':>7} {'best':>7}")
    for arm in (result.pruned, result.unpruned):
        best = "-" if arm.best is None else f"{arm.best:.2%}"
        print(f"{arm.pruner:<8} {arm.seconds:7.1f} {arm.trials_per_hour:9,.0f} {arm.complete:9} {arm.pruned:7} "
              f"{arm.rejected:9} {arm.epochs:7} {best:>7}")
    print(f"the pruner takes {result.time_ratio:.2f}x the time and saves {result.epochs_saved:.0%} of the epochs")


if __name__ == "__main__":
    main()
