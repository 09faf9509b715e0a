"""The winners written back as specs: the best trial (or every Pareto point) as a TOML file to review and retrain.

Each file is the base spec with the trial's values, its seed and per-trial epochs, so `archgen train`
reproduces the trial; `archgen validate` accepts it like any hand-written spec.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from archgen.errors import SearchError
from archgen.search.proposal import point_spec
from archgen.search.results import TrialRow
from archgen.search.study import study_spec
from archgen.spec.schema import NetSpec
from archgen.spec.writer import dump_spec


def winner_spec(base: NetSpec, row: TrialRow, *, seed: int) -> NetSpec:
    """The trial's network with the recipe it trained with (epochs per trial, its seed)."""
    assert base.search is not None
    spec = point_spec(base, row.point, number=row.number, epochs=base.search.epochs)
    epochs = f"{row.epochs} epoch{'s' if row.epochs != 1 else ''}"
    accuracy = "" if row.accuracy is None else f" {row.accuracy:.2%} validation accuracy after {epochs},"
    description = f"Trial {row.number} of a search on {base.name}:{accuracy} {row.params or 0:,} params."
    train = spec.train.model_copy(update={"seed": seed})
    return spec.model_copy(update={"description": description[:2000], "train": train})


def write_winners(study: optuna.Study, best: tuple[TrialRow, ...], out: Path, *, seed: int = 0) -> list[Path]:
    """best.toml (the most accurate), and pareto/trial-N.toml for every Pareto point when there are several."""
    if not best:
        return []
    base = study_spec(study)
    paths = [_write(out / "best.toml", base, best[0], seed=seed, study=study.study_name)]
    if len(best) > 1 or (base.search is not None and len(base.search.objectives) > 1):
        paths += [
            _write(out / "pareto" / f"trial-{r.number}.toml", base, r, seed=seed, study=study.study_name) for r in best
        ]
    return paths


def _write(path: Path, base: NetSpec, row: TrialRow, *, seed: int, study: str) -> Path:
    spec = winner_spec(base, row, seed=row.seed if row.seed is not None else seed + row.number)
    header = (
        f"Found by `archgen search` (study {study!r}, trial {row.number}): {row.architecture}.\n"
        f"Retrain with `archgen train {path.name}`; raise train.epochs for a full training "
        f"(the search trained {row.epochs} epoch{'s' if row.epochs != 1 else ''})."
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_spec(spec, header=header))
    except OSError as error:
        raise SearchError(f"cannot write the winning spec {path}: {error.strerror}") from None
    return path
