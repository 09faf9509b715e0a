"""The search-space language: the `[search]` table of a spec, which fields vary and how, objectives and budgets.

Structure only (pydantic); what the paths mean for a base spec is checked in `search_points`.
Knows nothing of Optuna: `archgen.search` turns these models into trial suggestions.
"""

from __future__ import annotations

import math
import sys
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

Objective = Literal["accuracy", "params", "macs", "latency"]
SamplerKind = Literal["tpe", "nsga2", "grid", "random", "qmc"]
PrunerKind = Literal["median", "pareto", "hyperband", "none"]
# A categorical choice is any scalar a spec field can hold; strict, so `true` stays a bool and `3` an int.
Choice = Annotated[bool, Strict()] | Annotated[int, Strict()] | Annotated[float, Strict()] | Annotated[str, Strict()]
Number = Annotated[int, Strict()] | Annotated[float, Strict()]

MAX_PARAMS_IN_SPACE = 64
MAX_CHOICES = 1000
MAX_TRIAL_EPOCHS = 10_000
MAX_REPEATS = 100
MAX_ENQUEUED = 1000


class _Frozen(BaseModel):
    # the same settings as the spec's own models (schema._Frozen); repeated to keep this module a leaf
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)


class Param(_Frozen):
    """How one field varies: a range (`low`, `high`, optional `step` or `log`) or a list of `choices`."""

    low: Number | None = None
    """Smallest value of a range (included)."""
    high: Number | None = None
    """Largest value of a range (included)."""
    step: Number | None = None
    """Distance between neighbouring values of a range (integer ranges: default 1)."""
    log: Annotated[bool, Strict()] = False
    """Sample the range on a log scale (learning rates, weight decay, widths)."""
    choices: Annotated[tuple[Choice, ...], Field(min_length=1, max_length=MAX_CHOICES)] | None = None
    """The values to choose from (block kinds, shortcut options, true/false, or a few numbers)."""

    @property
    def is_range(self) -> bool:
        return self.choices is None

    def grid(self) -> tuple[Choice, ...] | None:
        """Every value this parameter can take, or None for a continuous range (list it only after `count()`)."""
        count = self.count()
        if count is None or self.choices is not None:
            return self.choices
        low, step = self.low or 0, self.step or 1  # (no low: count is 0)
        return tuple(low + index * step for index in range(count))

    def count(self) -> int | None:
        """How many values `grid()` holds, without listing them (a range may hold 2**63); None when continuous."""
        if self.choices is not None:
            return len(self.choices)
        if self.low is None or self.high is None:
            return 0
        if isinstance(self.low, int) and isinstance(self.high, int) and not isinstance(self.step, float):
            step = self.step or 1
            return max((self.high - self.low) // step + 1, 0) if step > 0 else 0
        if self.step is None or self.step <= 0:
            return None
        try:
            steps = (self.high - self.low) / self.step
        except OverflowError:  # TOML integers are unbounded; floats are not
            return sys.maxsize
        return max(math.floor(steps + 1e-9) + 1, 0) if math.isfinite(steps) else sys.maxsize

    def ends(self) -> tuple[Choice, ...]:
        """The values that bound this parameter: both ends of a range, or every choice."""
        if self.choices is not None:
            return self.choices
        return tuple(dict.fromkeys(value for value in (self.low, self.high) if value is not None))


class SearchSpace(_Frozen):
    """What `archgen search` varies in this spec, what it optimises, and what no trial may exceed."""

    params: Annotated[dict[str, Param], Field(min_length=1, max_length=MAX_PARAMS_IN_SPACE)]
    """The fields that vary, by spec path: "body.width", "body.depths.0" (stage 1), "body.depths.*" (every stage),
    "body.stages.1.width", "body.block", "train.lr", …"""
    objectives: Annotated[tuple[Objective, ...], Field(min_length=1, max_length=4)] = ("accuracy",)
    """accuracy (validation, maximised) and, for a Pareto front, params, macs or latency (measured on this
    device; minimised)."""
    max_params: Annotated[int, Strict(), Field(ge=1)] | None = None
    """Budget: no trial trains a network with more parameters; checked by analysis before anything is built."""
    max_macs: Annotated[int, Strict(), Field(ge=1)] | None = None
    """Budget: no trial trains a network with more multiply-accumulates per image."""
    max_activations: Annotated[int, Strict(), Field(ge=1)] | None = None
    """Budget: no trial trains a network with more activations per image: output elements of its convs, windowed
    pools and classifier (pycls's count, `archgen.analyze(spec).acts`), what its training memory grows with."""
    sampler: SamplerKind | None = None
    """tpe, nsga2 (multi-objective), grid (every point, needs finite ranges), random or qmc; default: tpe, or
    nsga2 for several objectives."""
    pruner: PrunerKind | None = None
    """Stop unpromising trials early. median: a trial whose best accuracy so far trails the median of finished
    trials' at that epoch; pareto (several objectives): a trial that enough finished trials dominate at that epoch,
    as accurate and no more costly (its cost is exact before training), so a cheap net is never pruned for being
    cheap; hyperband (one objective); none. Default: median, or pareto for several objectives."""
    epochs: Annotated[int, Strict(), Field(ge=1, le=MAX_TRIAL_EPOCHS)] = 3
    """Epochs each trial trains (`archgen search --epochs` overrides); trials train on `train.data`."""
    trials: Annotated[int, Strict(), Field(ge=1, le=1_000_000)] | None = None
    """Trials to complete when `--trials` is not given (default: the grid's size, or 50)."""
    grow: Annotated[bool, Strict()] = False
    """Depth as a cheap axis: a trial deeper than a finished one it can grow from (same widths, stem and blocks;
    residual) starts from the most accurate such trial's weights, its blocks copied and every extra block the
    identity (He et al. 2016, Sec. 1), instead of at random. Keeps each trained trial's weights in
    the study folder's trials/trial-N/. Needs a space that varies depth."""
    plain_twin: Annotated[bool, Strict()] = False
    """Train each residual point's plain counterpart (body.residual = false, the same epochs and seed) after it, and
    record its final training and validation error: the report says whether the plain net degrades."""
    enqueue: Annotated[tuple[Annotated[str, Strict(), Field(min_length=1, max_length=4096)], ...],
                       Field(max_length=MAX_ENQUEUED)] = ()
    """Specs the search trains first, in order: shipped names ("resnet20") or files ("runs/x/best.toml", relative to
    the working folder, as train.init). Each must be a point of this space trained with its recipe (its seed and
    epochs aside); `archgen validate` names any that is not. Not part of what a study searches: a study resumes
    with another list, and trains each point it has not trained yet."""
    repeats: Annotated[int, Strict(), Field(ge=1, le=MAX_REPEATS)] = 1
    """Train each point this many times, from seeds derived from the study's (the first is the seed a single run
    trains from), and optimise the mean accuracy: run-to-run variance is the largest part of a small data set's
    noise. The trial records every seed's final errors; the report shows mean ± a 95% t-interval, and the
    degradation verdicts use Welch's test over the seeds. The pruner judges the first seed's epochs."""

    @property
    def resolved_pruner(self) -> PrunerKind:
        if self.pruner is not None:
            return self.pruner
        return "pareto" if len(self.objectives) > 1 else "median"

    @property
    def resolved_sampler(self) -> SamplerKind:
        if self.sampler is not None:
            return self.sampler
        return "nsga2" if len(self.objectives) > 1 else "tpe"

    def size(self) -> int | None:
        """Number of distinct points, or None when a float range is continuous."""
        total = 1
        for param in self.params.values():
            count = param.count()
            if count is None:
                return None
            total *= count
        return total
