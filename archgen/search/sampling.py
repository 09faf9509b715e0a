"""Models sampled uniformly from a search space within a band of complexity, for comparing design spaces
(`archgen spaces`): each path's value drawn from its choices or range, every point costed by the exact analysis
(nothing is built) and kept when it is valid, within the budgets and in the band.

Torch-free; training what it samples is `spaces`'.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from archgen.analysis import analyze, check_budget
from archgen.errors import SearchError, printable
from archgen.search.space import summary, try_trial_spec
from archgen.spec.schema import NetSpec
from archgen.spec.search_points import resolve
from archgen.spec.search_space import Choice, Param

Measure = Literal["macs", "params"]
DRAWS_PER_SAMPLE = 50  # points drawn per model asked for, to find them in the band and to measure each space's span
MIN_DRAWS = 2000


@dataclass(frozen=True)
class Band:
    """A complexity band: models whose MACs (or params) lie in [low, high]."""

    measure: Measure
    low: int
    high: int

    def holds(self, params: int, macs: int) -> bool:
        return self.low <= (macs if self.measure == "macs" else params) <= self.high

    def __str__(self) -> str:
        return f"{'MACs' if self.measure == 'macs' else 'params'} {amount(self.low)}..{amount(self.high)}"


def amount(count: float) -> str:
    """`1.5M`, `120k`, `900`: a count as the bands are written."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.3g}{suffix}"
    return f"{count:.0f}"


def parse_band(text: str, measure: Measure) -> Band:
    """`LO..HI`, each a count with an optional k, M or G: `100k..2M`."""
    low, dots, high = text.partition("..")
    if not dots:
        raise SearchError(f"--{measure} {text!r}: write the band as LO..HI, e.g. 100k..2M")
    ends = [_count(part.strip(), measure) for part in (low, high)]
    if ends[0] > ends[1]:
        raise SearchError(f"--{measure} {text!r}: the band's low end is above its high end")
    return Band(measure, ends[0], ends[1])


def _count(text: str, measure: Measure) -> int:
    scale = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1:], 1.0)
    number = text[:-1] if scale != 1.0 else text
    try:
        value = float(number) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or not number:
        raise SearchError(f"--{measure}: {text!r} is not a count (write 250k, 1.5M or 300000)")
    return round(value)


# --- sampling ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A model sampled from a space: its point, its architecture in one line, and its exact size."""

    point: dict[str, Choice]
    architecture: str
    params: int
    macs: int


@dataclass(frozen=True)
class Space:
    """A search space and the models sampled from it in the band; `span` is the band its valid models cover."""

    label: str
    spec: NetSpec
    models: tuple[Model, ...]
    span: tuple[int, int]


def sample_spaces(
    spaces: Sequence[tuple[str, NetSpec]], *, samples: int, band: Band | None, measure: Measure = "macs",
    seed: int = 0,
) -> tuple[Band, list[Space]]:
    """`samples` distinct models from each space, drawn uniformly among its valid points within the budgets, kept
    when in `band` (default: the band every space covers). Refuses one space, spaces of other data or classes, and a
    band where a space has too few models, naming the band each space spans."""
    if len(spaces) < 2:
        raise SearchError("archgen spaces compares two search spaces or more; give at least two")
    _check_alike(spaces)
    measure = band.measure if band is not None else measure
    drawn = {label: _draws(spec, samples=samples, seed=seed) for label, spec in spaces}
    spans = {label: _span(models, measure) for label, models in drawn.items()}
    chosen = band or _common_band(spans, measure)
    found = []
    for label, spec in spaces:
        inside = [model for model in drawn[label] if chosen.holds(model.params, model.macs)][:samples]
        if len(inside) < samples:
            raise SearchError(f"{_few(label, len(inside), samples, chosen)}; {_spans(spans, measure)}")
        found.append(Space(label, spec, tuple(inside), spans[label]))
    return chosen, found


def _check_alike(spaces: Sequence[tuple[str, NetSpec]]) -> None:
    (first, spec), rest = spaces[0], spaces[1:]
    for label, other in rest:
        if other.search is None or spec.search is None:
            raise SearchError(f"{printable(label if other.search is None else first)}: no [search] table; "
                              "archgen spaces compares search spaces")
        if other.train.data != spec.train.data:
            raise SearchError(f"{printable(label)} trains on {printable(other.train.data)}, {printable(first)} on "
                              f"{printable(spec.train.data)}: spaces are compared on the same data")
        if other.input.classes != spec.input.classes:
            raise SearchError(f"{printable(label)} classifies {other.input.classes} classes, {printable(first)} "
                              f"{spec.input.classes}: spaces are compared on the same task")


def _draws(spec: NetSpec, *, samples: int, seed: int) -> list[Model]:
    """Distinct valid points of the space within its budgets, in the order drawn (uniformly: each path's value drawn
    from its choices or range, log-uniformly for a log range)."""
    space = spec.search
    assert space is not None
    generator = random.Random(f"{seed}:{spec.name}")  # one stream per space: adding a space changes no other's
    seen: set[tuple[tuple[str, Choice], ...]] = set()
    models = []
    for _ in range(max(MIN_DRAWS, DRAWS_PER_SAMPLE * samples)):
        point = {path: _draw(param, generator, integer=_integer(path)) for path, param in space.params.items()}
        key = tuple(sorted(point.items()))
        if key in seen:
            continue
        seen.add(key)
        made = try_trial_spec(spec, point, number=0, seed=spec.train.seed)
        if isinstance(made, str):
            continue
        cost = analyze(made)
        if check_budget(space, cost).fits:
            models.append(Model(point, summary(made), cost.params, cost.macs))
    return models


def _integer(path: str) -> bool:
    return resolve(path).kind == "int"


def _draw(param: Param, generator: random.Random, *, integer: bool) -> Choice:
    if param.choices is not None:
        return generator.choice(param.choices)
    assert param.low is not None and param.high is not None
    if param.step is not None or integer:
        steps = param.count() or 1
        value = param.low + generator.randrange(steps) * (param.step or 1)
        return int(value) if integer else float(value)
    if param.log:
        return math.exp(generator.uniform(math.log(param.low), math.log(param.high)))
    return generator.uniform(param.low, param.high)


def _span(models: Sequence[Model], measure: Measure) -> tuple[int, int]:
    values = [model.macs if measure == "macs" else model.params for model in models]
    return (min(values), max(values)) if values else (0, 0)


def _common_band(spans: dict[str, tuple[int, int]], measure: Measure) -> Band:
    low, high = max(span[0] for span in spans.values()), min(span[1] for span in spans.values())
    if low > high:
        raise SearchError(f"the spaces share no band of {'MACs' if measure == 'macs' else 'params'}: "
                          f"{_spans(spans, measure)}; compare spaces that overlap")
    return Band(measure, low, high)


def _few(label: str, found: int, samples: int, band: Band) -> str:
    if not found:
        return f"no model of {printable(label)} falls in {band}"
    return (f"only {found} distinct model{'s' if found != 1 else ''} of {printable(label)} fall in {band} "
            f"({samples} asked for)")


def _spans(spans: dict[str, tuple[int, int]], measure: Measure) -> str:
    what = "MACs" if measure == "macs" else "params"
    return ", ".join(f"{printable(label)} spans {what} {amount(low)}..{amount(high)}"
                     for label, (low, high) in spans.items())
