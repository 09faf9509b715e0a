"""The winners as specs: best.toml (the most accurate trial) and pareto/trial-N.toml (every Pareto point), each the
spec its trial trained, with a header that says how it was found and what retraining it reproduces.

Knows specs and trial rows; where the files go, and who may replace them, is `outputs`.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from archgen.search.depth import GROWN, TRIALS
from archgen.search.record import study_spec
from archgen.search.space import trial_spec
from archgen.search.views import TrialRow
from archgen.spec.schema import NetSpec
from archgen.spec.writer import dump_spec


def winner_files(study: optuna.Study, best: tuple[TrialRow, ...], *, seed: int = 0) -> dict[str, bytes]:
    """best.toml (the most accurate), and pareto/trial-N.toml for every Pareto point when there are several: each
    the spec its trial trained (its values, seed and epochs), so `archgen train` reproduces the trial (from random
    weights: a grown trial's header says where its starting weights came from)."""
    if not best:
        return {}
    base = study_spec(study)
    names = {"best.toml": best[0]}
    if len(best) > 1 or (base.search is not None and len(base.search.objectives) > 1):
        names.update({f"pareto/trial-{r.number}.toml": r for r in best})
    return {name: _winner_toml(name, base, r, seed=seed, study=study.study_name) for name, r in names.items()}


def winner_spec(base: NetSpec, row: TrialRow, *, seed: int) -> NetSpec:
    """The trial's network with the recipe it trained with (its epochs and seed), described; a grown trial's
    description names the trial its weights were grown from."""
    spec = trial_spec(base, row.point, number=row.number, seed=row.seed if row.seed is not None else seed + row.number)
    epochs = f"{row.epochs} epoch{'s' if row.epochs != 1 else ''}"
    seeds = f" (the mean of {len(row.repeats)} seeds; this file trains the first)" if len(row.repeats) > 1 else ""
    accuracy = "" if row.accuracy is None else f" {row.accuracy:.2%} validation accuracy after {epochs}{seeds},"
    grown = "" if row.grown_from is None else f" starting from trial {row.grown_from}'s weights, grown;"
    description = f"Trial {row.number} of a search on {base.name}:{accuracy}{grown} {row.params or 0:,} params."
    return spec.model_copy(update={"description": description[:2000]})


def grown_weights(row: TrialRow) -> str:
    """Where a grown trial's starting weights are kept, relative to the search's study folder."""
    return f"{TRIALS}/trial-{row.number}/{GROWN}"


def _winner_toml(name: str, base: NetSpec, row: TrialRow, *, seed: int, study: str) -> bytes:
    epochs = f"{row.epochs} epoch{'s' if row.epochs != 1 else ''}"
    retrain = (f"Retrain with `archgen train {Path(name).name}`; raise train.epochs for a full training "
               f"(the search trained {epochs}).")
    if row.grown_from is not None:  # its accuracy is not what this file trains to from random weights
        retrain = (f"Its accuracy came from weights grown from trial {row.grown_from}'s, not random ones: they are "
                   f"{grown_weights(row)} in the search's study folder. `archgen train {Path(name).name}` starts "
                   f"from random weights; set train.init to that file to start as the trial did (it trained "
                   f"{epochs}).")
    header = f"Found by `archgen search` (study {study!r}, trial {row.number}): {row.architecture}.\n{retrain}"
    return dump_spec(winner_spec(base, row, seed=seed), header=header).encode()
