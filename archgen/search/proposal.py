"""A trial's proposal: values sampled for every path of the space, and the spec data they make.

Data, not modules (DESIGN: search proposes specs). The Optuna parameter names are the spec paths,
so optuna-dashboard and the plots read `body.width` and `body.depths.*`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from archgen.errors import SpecError
from archgen.spec.loader import parse_spec
from archgen.spec.schema import NetSpec
from archgen.spec.search_points import PathError, apply_point, base_data, resolve
from archgen.spec.search_space import Choice, Param, SearchSpace


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


def distributions(space: SearchSpace) -> dict[str, optuna.distributions.BaseDistribution]:
    """The space as Optuna distributions (for enqueued or imported trials)."""
    result: dict[str, optuna.distributions.BaseDistribution] = {}
    for path, param in space.params.items():
        if param.choices is not None:
            result[path] = optuna.distributions.CategoricalDistribution(list(param.choices))
        elif resolve(path).kind == "int":
            assert param.low is not None and param.high is not None
            result[path] = optuna.distributions.IntDistribution(
                int(param.low), int(param.high), step=int(param.step or 1), log=param.log
            )
        else:
            assert param.low is not None and param.high is not None
            step = None if param.step is None else float(param.step)
            result[path] = optuna.distributions.FloatDistribution(
                float(param.low), float(param.high), step=step, log=param.log
            )
    return result


def trial_name(base: NetSpec, number: int) -> str:
    return f"{base.name}-trial{number}"[:64]


def point_spec(base: NetSpec, point: Mapping[str, Any], *, number: int, epochs: int | None = None) -> NetSpec:
    """The network a point describes: the base with the point's values, named after its trial.

    Raises SpecError (or PathError) if the combination breaks a rule of the language.
    """
    data = apply_point(base_data(base), point, name=trial_name(base, number))
    if epochs is not None:
        data.setdefault("train", {})["epochs"] = epochs
    return parse_spec(data)


def try_point_spec(base: NetSpec, point: Mapping[str, Any], *, number: int, epochs: int | None = None) -> NetSpec | str:
    """The point's spec, or the first reason it is not a valid spec."""
    try:
        return point_spec(base, point, number=number, epochs=epochs)
    except SpecError as error:
        problem = error.problems[0]
        return f"{problem.field}: {problem.message}" if problem.field else problem.message
    except PathError as error:
        return str(error)


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
