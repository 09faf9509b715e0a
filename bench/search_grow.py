"""What `[search] grow = true` saves: ResNet-56 on the bundled digits from random weights, and grown from a trained
ResNet-20 (its blocks copied, every extra block the identity), each for the same epochs and seed; the epochs each
needs to reach the from-scratch run's final validation accuracy.

The grown run goes through the search's own code (`archgen.search.depth`: the ResNet-20's weights kept as a trial's,
then `start_grown`), so the figures are what a search trial sees. Epoch times are reported, never asserted; the
ResNet-20's own training is a trial the search runs anyway, and its cost is shown beside the saving.

    OMP_NUM_THREADS=1 python bench/search_grow.py                      # 10 epochs, seeds 0 1; ~3 minutes idle
    OMP_NUM_THREADS=1 python bench/search_grow.py --epochs 4 --seeds 0  # a quick look
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXED_TARGET = 0.05  # a validation error both runs should reach on digits in a dozen epochs
MEMORY_LIMIT = 6 * 2**30  # address space: a leak fails here rather than swapping a shared machine


@dataclass(frozen=True)
class Curve:
    """One training: validation and training error after each epoch, and its seconds."""

    val_error: tuple[float, ...]
    train_error: tuple[float, ...]
    seconds: float

    def epochs_to(self, target: float) -> int | None:
        """The first epoch whose validation error is at most `target`; None if none is."""
        return next((epoch for epoch, error in enumerate(self.val_error, start=1) if error <= target + 1e-12), None)


@dataclass(frozen=True)
class Seed:
    seed: int
    shallow: Curve
    scratch: Curve
    grown: Curve

    @property
    def target(self) -> float:
        return self.scratch.val_error[-1]


def _curve(result: Any) -> Curve:
    return Curve(tuple(m.val_error for m in result.history), tuple(m.train_error for m in result.history),
                 sum(m.seconds for m in result.history))


def measure(seed: int, *, epochs: int, folder: Path) -> Seed:
    from archgen import load_spec
    from archgen.search.depth import Kept
    from archgen.training import Listener, train, with_recipe

    kept = Kept(folder, "bench")  # the study folder's trials/, as a search of `grow = true` keeps them

    class Keeping(Listener):
        """Keeps the trained net as a search trial of `grow = true` does."""

        fitted: Any = None

        def on_start(self, plan: Any) -> None:
            self.fitted = plan.spec

        def on_trained(self, model: Any) -> None:
            kept.keep(0, model, self.fitted)

    shallow_spec = with_recipe(load_spec("digits-resnet20"), epochs=epochs, seed=seed)
    deep_spec = with_recipe(load_spec("digits-resnet56"), epochs=epochs, seed=seed)
    shallow = _curve(train(shallow_spec, listener=Keeping()))
    scratch = _curve(train(deep_spec))
    source = kept.source(0)
    assert source is not None
    grown = _curve(train(kept.start_grown(1, deep_spec, source)))
    return Seed(seed, shallow, scratch, grown)


def report(found: list[Seed], *, epochs: int) -> str:
    lines = [f"| seed | ResNet-56 from scratch: val error after {epochs} | grown from ResNet-20: after 1 | "
             f"after {epochs} | epochs to the scratch run's final accuracy: scratch / grown | "
             f"epochs to {FIXED_TARGET:.0%} val error: scratch / grown | seconds per epoch: ResNet-20 / ResNet-56 |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for run in found:
        lines.append(
            f"| {run.seed} | {run.target:.2%} | {run.grown.val_error[0]:.2%} | {run.grown.val_error[-1]:.2%} | "
            f"{_epochs(run.scratch, run.target, epochs)} / {_epochs(run.grown, run.target, epochs)} | "
            f"{_epochs(run.scratch, FIXED_TARGET, epochs)} / {_epochs(run.grown, FIXED_TARGET, epochs)} | "
            f"{run.shallow.seconds / epochs:.2f} / {(run.scratch.seconds + run.grown.seconds) / (2 * epochs):.2f} |")
    return "\n".join(lines) + "\n"


def _epochs(curve: Curve, target: float, epochs: int) -> str:
    needed = curve.epochs_to(target)
    return str(needed) if needed is not None else f">{epochs}"


def curves(found: list[Seed]) -> str:
    lines = []
    for run in found:
        named = (("resnet20", run.shallow), ("resnet56 scratch", run.scratch), ("resnet56 grown", run.grown))
        for name, curve in named:
            errors = " ".join(f"{error:.3f}" for error in curve.val_error)
            lines.append(f"seed {run.seed} {name:17} val error per epoch: {errors}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    options = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    found = []
    for seed in options.seeds:
        with tempfile.TemporaryDirectory(prefix="archgen-grow-") as folder:
            found.append(measure(seed, epochs=options.epochs, folder=Path(folder)))
        print(curves(found[-1:]), end="", flush=True)
    print()
    print(report(found, epochs=options.epochs), end="")


if __name__ == "__main__":
    main()
