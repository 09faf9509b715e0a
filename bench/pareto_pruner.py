"""The shipped Pareto search (`digits-pareto`: accuracy, params and MACs) with each pruning rule: the Pareto pruner
(the default of several objectives), today's median rule, and no pruner; over several study seeds, the hypervolume
of the front each finds and the epochs each trains, as mean ± a 95% t-interval.

The hypervolume is taken over the complete trials (a pruned trial never reaches the front) in (validation error,
params / the space's budget, MACs / its largest point's MACs), every objective minimised, against the reference
point (1, 1, 1): the fraction of that box the front dominates. Each run is one `archgen search` subprocess in a
fresh folder (`bench/search_pruner.py`'s runner), so the counts are a user's. The rules differ only in `pruner`.

    python bench/pareto_pruner.py                       # 20 trials per run, seeds 0-2: ~25 min on 2 busy cores
    python bench/pareto_pruner.py --trials 40 --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import optuna
from search_pruner import run_search, spread

import archgen
from archgen.analysis import analyze
from archgen.search import record
from archgen.search.space import largest_point, trial_spec
from archgen.statistics import hypervolume

RULES = ("pareto", "median", "none")
SPEC = 'extends = "digits-pareto"\nname = "pareto-{rule}"\n\n[search]\npruner = "{rule}"\n'


@dataclass(frozen=True)
class Run:
    rule: str
    seed: int
    hypervolume: float
    epochs: int
    """Epochs trained over all trials (a pruned trial stops early)."""
    complete: int
    pruned: int
    front: int
    """Complete trials on the Pareto front."""
    seconds: float


def scales() -> tuple[float, float]:
    """(params, MACs) that map the space onto [0, 1]: the parameter budget, and the MACs of the largest point."""
    spec = archgen.load_spec("digits-pareto")
    assert spec.search is not None and spec.search.max_params is not None
    corner = trial_spec(spec, largest_point(spec.search), number=0, seed=0)
    return float(spec.search.max_params), float(analyze(corner).macs)


def measure(rule: str, seed: int, folder: Path, *, trials: int, epochs: int) -> Run:
    (folder / f"{rule}.toml").write_text(SPEC.format(rule=rule))
    found = run_search(f"{rule}.toml", f"pareto-{rule}-{seed}", folder, trials=trials, epochs=epochs, seed=seed)
    params, macs = scales()
    complete = [t for t in found.trials if record.outcome(t) == "complete"]
    points = [(1.0 - (record.accuracy(t) or 0.0), t.user_attrs[record.PARAMS] / params,
               t.user_attrs[record.MACS] / macs) for t in complete]
    front = [p for p in points if not any(_dominates(q, p) for q in points)]
    return Run(rule, seed, hypervolume(points, (1.0, 1.0, 1.0)),
               epochs=sum(record.epochs_run(t) for t in found.trials), complete=len(complete),
               pruned=sum(record.outcome(t) == "pruned" for t in found.trials), front=len(front),
               seconds=found.seconds)


def _dominates(first: tuple[float, ...], second: tuple[float, ...]) -> bool:
    return all(a <= b for a, b in zip(first, second, strict=True)) and first != second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (default: the spec's 3)")
    parser.add_argument("--seeds", default="0,1,2", help="study seeds, comma separated (default: 0,1,2)")
    parser.add_argument("--rules", default=",".join(RULES), help="pruning rules (default: pareto,median,none)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds, rules = [int(seed) for seed in args.seeds.split(",")], args.rules.split(",")
    runs: list[Run] = []
    print(f"archgen search digits-pareto --trials {args.trials} --epochs {args.epochs}, seeds {args.seeds}")
    print(f"{'rule':<7} {'seed':>4} {'hypervolume':>11} {'epochs':>7} {'complete':>9} {'pruned':>7} {'front':>6} "
          f"{'wall s':>7}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for rule in rules:
                run = measure(rule, seed, Path(tmp), trials=args.trials, epochs=args.epochs)
                runs.append(run)
                print(f"{run.rule:<7} {run.seed:>4} {run.hypervolume:11.4f} {run.epochs:7} {run.complete:9} "
                      f"{run.pruned:7} {run.front:6} {run.seconds:7.0f}", flush=True)
    unpruned = [run.epochs for run in runs if run.rule == "none"]
    print("\n| pruning rule | seeds | hypervolume | epochs trained | of no pruner's | wall time (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for rule in rules:
        chosen = [run for run in runs if run.rule == rule]
        volume = spread([run.hypervolume * 100 for run in chosen])
        share = f"{sum(run.epochs for run in chosen) / sum(unpruned):.0%}" if unpruned else "-"
        print(f"| {rule} | {len(chosen)} | {volume} % | {spread([run.epochs for run in chosen])} | {share} | "
              f"{spread([run.seconds for run in chosen])} |")


if __name__ == "__main__":
    main()
