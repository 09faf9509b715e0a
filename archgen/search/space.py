"""A search space in Optuna's terms: points sampled for its paths, the spec a trial trains, and samplers.

Data, not modules (STYLE 13: search proposes specs). The Optuna parameter names are the spec paths, so
optuna-dashboard and the plots read `body.width` and `body.depths.*`. Knows nothing of storages or workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, GridSampler
from optuna.trial import FrozenTrial, TrialState

from archgen.errors import SpecError
from archgen.spec.loader import parse_spec
from archgen.spec.schema import NetSpec
from archgen.spec.search_points import PathError, apply_point, base_data, resolve
from archgen.spec.search_space import Choice, Param, SearchSpace

NSGA2_POPULATION = 20


# --- points and the specs they make --------------------------------------------------------------------------------


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Choice]:
    """Sample every parameter of the space on `trial`."""
    return {path: _suggest_one(trial, path, param) for path, param in space.params.items()}


def _suggest_one(trial: optuna.Trial, path: str, param: Param) -> Choice:
    if param.choices is not None:
        value = trial.suggest_categorical(path, list(param.choices))
        assert value is not None
        return value
    assert param.low is not None and param.high is not None
    if resolve(path).kind == "int":
        return trial.suggest_int(path, int(param.low), int(param.high), step=int(param.step or 1), log=param.log)
    step = None if param.step is None else float(param.step)
    return trial.suggest_float(path, float(param.low), float(param.high), step=step, log=param.log)


def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """The Optuna distribution of each path, as `suggest` samples it: what a trial made by hand (an imported one)
    records its point in."""
    found: dict[str, BaseDistribution] = {}
    for path, param in space.params.items():
        if param.choices is not None:
            found[path] = CategoricalDistribution(list(param.choices))
            continue
        assert param.low is not None and param.high is not None
        if resolve(path).kind == "int":
            found[path] = IntDistribution(int(param.low), int(param.high), step=int(param.step or 1), log=param.log)
        else:
            step = None if param.step is None else float(param.step)
            found[path] = FloatDistribution(float(param.low), float(param.high), step=step, log=param.log)
    return found


def trial_spec(base: NetSpec, point: Mapping[str, Any], *, number: int, seed: int) -> NetSpec:
    """The spec trial `number` trains: the base with the point's values, named after the trial, its recipe training
    `search.epochs` epochs from `seed`. The one place a trial's spec is made, so the winner written back is exactly
    what trained. Raises SpecError (or PathError) if the combination breaks a rule of the language."""
    assert base.search is not None
    data = apply_point(base_data(base), point, name=f"{base.name}-trial{number}"[:64])
    data.setdefault("train", {}).update(epochs=base.search.epochs, seed=seed)
    return parse_spec(data)


def repeat_seeds(first: int, repeats: int) -> list[int]:
    """The seeds a point trains from with `[search] repeats`: its trial's seed, then seeds REPEAT_STRIDE apart, so no
    repeat of one trial trains from another trial's seed (trial numbers stay below the stride)."""
    return [(first + index * REPEAT_STRIDE) % 2**63 for index in range(repeats)]


REPEAT_STRIDE = 1_000_003  # a prime above the most trials a study may have (`[search] trials` <= 1,000,000)


def try_trial_spec(base: NetSpec, point: Mapping[str, Any], *, number: int, seed: int) -> NetSpec | str:
    """The trial's spec, or the first reason the point makes no valid spec."""
    try:
        return trial_spec(base, point, number=number, seed=seed)
    except SpecError as error:
        problem = error.problems[0]
        return f"{problem.field}: {problem.message}" if problem.field else problem.message
    except PathError as error:
        return str(error)


def largest_point(space: SearchSpace) -> dict[str, Choice]:
    """The space's corner where every numeric parameter takes its largest value (others their first choice)."""
    point: dict[str, Choice] = {}
    for path, param in space.params.items():
        if param.choices is None:
            assert param.high is not None
            point[path] = param.high
            continue
        numbers = [c for c in param.choices if isinstance(c, int | float) and not isinstance(c, bool)]
        point[path] = max(numbers) if numbers else param.choices[0]
    return point


def summary(spec: NetSpec) -> str:
    """The architecture in one short line: `basic [2,1,1] w16 B`, `plain basic [3,3,3] w16` (w: first stage's width)."""
    body = spec.body
    stages = body.resolved_stages()
    depths = ",".join(str(stage.depth) for stage in stages)
    doubling = all(stage.width == stages[0].width * 2**index for index, stage in enumerate(stages))
    widths = str(stages[0].width) if doubling else "/".join(str(stage.width) for stage in stages)
    kind = body.block if body.residual else f"plain {body.block}"
    shortcut = f" {body.shortcut}" if body.residual else ""
    return f"{kind} [{depths}] w{widths}{shortcut}"


# --- samplers ------------------------------------------------------------------------------------------


class _Grid(GridSampler):
    """GridSampler without its `study.stop()` (only allowed inside `optimize`); archgen stops when the grid is done."""

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        return None


def make_sampler(space: SearchSpace, *, seed: int, trial_number: int) -> BaseSampler:
    """The sampler that proposes trial `trial_number`; a fresh one per trial, each seeded by (seed, number)."""
    kind = space.resolved_sampler
    if kind == "grid":
        grid: dict[str, Any] = {path: list(param.grid() or ()) for path, param in space.params.items()}
        # the study's own seed: GridSampler shuffles the grid by it, and a grid id must mean one point in every trial
        return _Grid(grid, seed=seed)
    seed = (seed * 1_000_003 + trial_number) % 2**32
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=NSGA2_POPULATION)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    # constant_liar: running trials count as bad, so parallel workers do not propose the same point
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
