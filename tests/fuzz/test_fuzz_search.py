"""Search tables fuzzed: random field paths, ranges, steps, choices, samplers and budgets on a valid base.

Each spec is a located SpecError or a valid search spec whose corners apply to the base. Ranges use
TOML's unbounded integers and extreme floats: the space's checks must do exact or guarded arithmetic.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from fuzz_settings import Tally, examples, load_or_located
from hypothesis import given
from hypothesis import strategies as st
from mutations import HUGE, SHIPPED

from archgen.spec.search_points import corner_points

TALLY = Tally()
BASE = "digits-resnet20"

_paths = st.one_of(
    st.sampled_from(["body.width", "body.depths.0", "body.depths.*", "body.depths.9", "body.block", "body.shortcut",
                     "body.residual", "body.groups", "body.stages.0.width", "stem.width", "stem.kind", "train.lr",
                     "train.seed", "train.epochs", "train.milestones.0", "head.dropout", "input.size", "name",
                     "search.epochs", "body", "body.depths", "", ".", "body..width", "body.width.x", "train.lrr"]),
    st.text(max_size=20),
)
_numbers = st.one_of(
    st.integers(-3, 70), st.sampled_from(HUGE), st.floats(allow_nan=False, allow_infinity=False), st.floats(0, 1)
)
_choice = st.one_of(_numbers, st.booleans(), st.sampled_from(["basic", "bottleneck", "A", "B", "C", "cifar", "deep"]))
_param = st.one_of(
    st.fixed_dictionaries({"low": _numbers, "high": _numbers}, optional={"step": _numbers, "log": st.booleans()}),
    st.fixed_dictionaries({"choices": st.lists(_choice, min_size=0, max_size=5)}),
    st.dictionaries(st.sampled_from(["low", "high", "step", "log", "choices", "lo"]), _choice, max_size=3),
)
# sensible parameters too, so that a fair share of the spaces is valid and the valid branch runs
_plausible = st.sampled_from([
    ("body.width", {"choices": [8, 16]}), ("body.depths.0", {"low": 1, "high": 3}),
    ("body.depths.*", {"choices": [1, 2]}),
    ("train.lr", {"low": 0.01, "high": 0.3, "log": True}), ("body.residual", {"choices": [True, False]}),
    ("train.momentum", {"low": 0.5, "high": 0.9, "step": 0.1}), ("stem.width", {"low": 8, "high": 32, "step": 8}),
])
_params = st.one_of(
    st.dictionaries(_paths, _param, min_size=1, max_size=4),
    st.lists(_plausible, min_size=1, max_size=3).map(dict),
    st.tuples(st.lists(_plausible, min_size=1, max_size=2).map(dict), st.dictionaries(_paths, _param, max_size=1)).map(
        lambda pair: {**pair[0], **pair[1]}
    ),
)
_search = st.fixed_dictionaries(
    {"params": _params},
    optional={
        "sampler": st.sampled_from(["tpe", "nsga2", "grid", "random", "qmc", "cmaes"]),
        "objectives": st.lists(st.sampled_from(["accuracy", "params", "macs", "latency"]), max_size=4),
        "pruner": st.sampled_from(["median", "hyperband", "none"]),
        "max_params": st.one_of(st.integers(-1, 10**6), st.sampled_from(HUGE)),
        "max_macs": st.one_of(st.integers(-1, 10**8), st.sampled_from(HUGE)),
        "trials": st.one_of(st.integers(0, 100), st.sampled_from(HUGE)),
        "epochs": st.integers(-1, 5),
    },
)


@examples(400)
@given(_search)
def test_fuzzed_search_tables(search: dict[str, Any]) -> None:
    text = SHIPPED[BASE] + "\n" + tomli_w.dumps({"search": search})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "space.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        spec, _ = load_or_located(path, TALLY.of(test_fuzzed_search_tables))
    if spec is None:
        return
    assert spec.search is not None
    points, _ = corner_points(spec.search)
    assert points
    spec.search.size()  # counted, never listed


def test_the_search_fuzzer_saw_both_outcomes() -> None:
    """Control: most fuzzed spaces were refused, and some were valid (the valid branch ran)."""
    outcomes = TALLY.after(test_fuzzed_search_tables)
    assert outcomes["invalid"] > 100 and outcomes["valid"] > 3, outcomes
