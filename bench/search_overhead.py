"""Per-trial overhead of archgen's search machinery against a bare Optuna loop, training the same (fake) model.

Both loops propose the same space and "train" with the same instant fake trainer, so what is measured is
the machinery alone: archgen's claim lock, stale-trial reaping, budget analysis, spec parsing, user
attributes, each trained trial's TensorBoard events and journal storage, against `study.optimize` on the same
journal storage (torch, which TensorBoard's writer needs, is imported before the clock starts, as a worker does).

    .venv/bin/python bench/search_overhead.py --trials 60
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "search"))

import archgen  # noqa: E402
from archgen.search import SearchConfig, optimize, resolve_spec, storage_spec  # noqa: E402
from archgen.search.space import suggest, trial_spec  # noqa: E402


def archgen_loop(spec: archgen.NetSpec, trials: int, folder: Path) -> float:
    from fakes import fake_train

    import archgen.training.tensorboard  # noqa: F401  (torch: imported once per worker, before its first trial)

    config = SearchConfig(spec=spec, study="bench", storage=storage_spec(None, folder=folder), trials=trials,
                          out=folder, trainer=fake_train, poll_seconds=0.01)
    start = time.perf_counter()
    optimize(config)
    study = optuna.load_study(study_name="bench", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "journal.log"))))
    return (time.perf_counter() - start) / len(study.trials)


def bare_loop(spec: archgen.NetSpec, trials: int, folder: Path) -> float:
    from fakes import error_of, fake_train

    space = spec.search
    assert space is not None
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / "bare.log")))
    study = optuna.create_study(storage=storage, direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        net = trial_spec(spec, suggest(trial, space), number=trial.number, seed=trial.number)  # the same spec
        fake_train(net, device="cpu", listener=None)
        return 1 - error_of(net, space.epochs)

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - start) / trials


@dataclass(frozen=True)
class Overhead:
    trials: int
    archgen_seconds: float
    """archgen's search, seconds per trial (machinery only: the trainer is instant)."""
    bare_seconds: float
    """A bare `study.optimize` loop over the same space and storage, seconds per trial."""

    @property
    def extra_seconds(self) -> float:
        return self.archgen_seconds - self.bare_seconds

    @property
    def ratio(self) -> float:
        return self.archgen_seconds / self.bare_seconds


def measure(*, trials: int = 60) -> Overhead:
    """Both loops over the same number of trials, each on a fresh journal file."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = resolve_spec(archgen.load_spec("digits-search"))
    spec = spec.model_copy(update={"search": spec.search.model_copy(update={"max_params": None})})  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as tmp:
        ours = archgen_loop(spec, trials, Path(tmp))
        bare = bare_loop(spec, trials, Path(tmp))
    return Overhead(trials=trials, archgen_seconds=ours, bare_seconds=bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=60)
    args = parser.parse_args()
    result = measure(trials=args.trials)
    print(f"trials: {args.trials}, fake trainer (no training), journal storage, one process")
    print(f"bare optuna loop:   {result.bare_seconds * 1000:7.1f} ms per trial")
    print(f"archgen search:     {result.archgen_seconds * 1000:7.1f} ms per trial")
    print(f"overhead: {result.extra_seconds * 1000:.1f} ms per trial ({result.ratio:.2f}x the bare loop's machinery)")


if __name__ == "__main__":
    main()
