"""Depth as a cheap axis (`[search] grow = true`): each trained trial's weights and spec kept in
<study folder>/trials/trial-N/, and a deeper trial started as the most accurate complete trial it can grow from, its
blocks copied and every extra block the identity (`archgen.pipeline.grow`, He et al. 2016's solution by construction).

Runs in the workers that train: torch and the pipeline are imported inside the functions, never by the search's parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from archgen.files import write_atomic
from archgen.search import results
from archgen.spec.loader import read_spec
from archgen.spec.schema import NetSpec
from archgen.spec.writer import dump_spec

TRIALS = "trials"  # in the study folder: trial-N/ for every trained trial of a search that grows
WEIGHTS = "weights.safetensors"  # a trial's final weights
SPEC = "spec.toml"  # the spec they fit: as it trained, fitted to the data
GROWN = "grown.safetensors"  # a grown trial's starting weights, named by its train.init


def trial_folder(out: Path, number: int) -> Path:
    return out / TRIALS / f"trial-{number}"


def keep(folder: Path, model: Any, spec: NetSpec) -> None:
    """Write the trained `model`'s weights and the fitted `spec` it was built from, each atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / SPEC, dump_spec(spec, header="The spec this trial trained, fitted to its data; its weights "
                                                       f"are {WEIGHTS} beside it.").encode())
    write_atomic(folder / WEIGHTS, _safetensors(model))


@dataclass(frozen=True)
class Source:
    """A complete trial a deeper one grows from: its number, its fitted spec, and its kept weights."""

    number: int
    spec: NetSpec
    weights: Path


def growth_source(study: optuna.Study, spec: NetSpec, out: Path) -> Source | None:
    """The most accurate complete trial whose net `spec` can start as (plus identity blocks), or None."""
    from archgen.pipeline.grow import obstacle  # torch: workers only

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for trial in sorted(complete, key=lambda t: (-(results.accuracy(t) or 0.0), t.number)):
        folder = trial_folder(out, trial.number)
        if not (folder / WEIGHTS).is_file() or not (folder / SPEC).is_file():
            continue  # trained before grow was on, or by another machine whose study folder this is not
        shallow = read_spec(folder / SPEC)
        if obstacle(shallow, fitted_like(spec, shallow)) is None:
            return Source(trial.number, shallow, folder / WEIGHTS)
    return None


def grown_start(study: optuna.Study, trial: optuna.Trial, spec: NetSpec, out: Path) -> NetSpec:
    """`spec` grown from the most accurate complete trial it can grow from (recorded on `trial` as grown_from), or
    `spec` as it is when there is none."""
    source = growth_source(study, spec, out)
    if source is None:
        return spec
    trial.set_user_attr(results.GROWN_FROM, source.number)
    return start_grown(spec, source, trial_folder(out, trial.number))


def start_grown(spec: NetSpec, source: Source, folder: Path) -> NetSpec:
    """`spec` starting from `source`'s net grown to its depth: the grown weights written to `folder`, named by the
    returned spec's train.init (which `archgen.pipeline.train` loads before the first step)."""
    from archgen.pipeline.grow import grown_module  # torch: workers only

    grown = grown_module(source.spec, source.weights, fitted_like(spec, source.spec))
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / GROWN, _safetensors(grown.model))
    return spec.model_copy(update={"train": spec.train.model_copy(update={"init": str((folder / GROWN).absolute())})})


def fitted_like(spec: NetSpec, fitted: NetSpec) -> NetSpec:
    """`spec` as the trainer will fit it: a search's trials share their base's input and data, and fitting changes
    only the input (`archgen.pipeline.fitting`), so it takes the fitted trial's."""
    return spec.model_copy(update={"input": fitted.input, "reference": None})


def _safetensors(model: Any) -> bytes:
    from safetensors.torch import save

    return save({name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()})
