"""Properties of randomly generated small valid specs: the analysis equals the built module, and
validate -> dump -> load round-trips to an equal spec, with a dump that is a fixed point.

Every block kind, stem, shortcut option, residual or plain, groups, both body forms, He et al. 2016b's placements
of BN and ReLU and shortcut variants (scales, gates, dropout), head and recipe fields. `pytest tests/fuzz
--hypothesis-profile=deep` runs 40x the examples (see fuzz_settings.py).
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fuzz_settings import Tally, examples
from hypothesis import assume, given
from hypothesis import strategies as st

from archgen import analyze
from archgen.analysis import SPEC_CHECKS
from archgen.errors import SpecError
from archgen.spec import NetSpec, parse_spec, read_spec
from archgen.spec.writer import dump_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from test_complexity_matches_module import measure, predicted  # the per-shipped-spec oracle

TALLY = Tally()
SIZES = {"cifar": st.integers(4, 24), "imagenet": st.integers(8, 48), "deep": st.integers(8, 48)}
BLOCKS = ["basic", "bottleneck", "preact_basic", "preact_bottleneck"]
PLACEMENTS = ["original", "bn_after_addition", "relu_before_addition", "relu_only_preactivation", "full_preactivation"]
# He et al. 2016b, Table 1's shortcuts (and none): each a few body fields.
SHORTCUT_VARIANTS: list[dict[str, Any]] = [
    {}, {}, {"shortcut_scale": 0.5}, {"shortcut_scale": 0.5, "branch_scale": 0.5}, {"gate": "exclusive"},
    {"gate": "shortcut_only"}, {"shortcut_dropout": 0.5}, {"shortcut_dropout": 0.25, "branch_scale": 2.0},
]


@st.composite
def small_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Spec data of a small network (a few blocks, a few channels); most drawn specs are valid."""
    block, stem = draw(st.sampled_from(BLOCKS)), draw(st.sampled_from(sorted(SIZES)))
    groups = draw(st.sampled_from([1, 1, 2, 4]))
    body: dict[str, Any] = {
        "block": block,
        "shortcut": draw(st.sampled_from(["A", "B", "C"])),
        "residual": draw(st.booleans()),
        "groups": groups,
        "zero_init_residual": draw(st.booleans()),
    }
    if draw(st.booleans()):
        body["depths"] = draw(st.lists(st.integers(1, 2), min_size=1, max_size=3))
        body["width"] = groups * draw(st.integers(1, 6))
    else:
        widths = st.integers(1, 6).map(lambda w: w * groups)
        stage = st.fixed_dictionaries({"depth": st.integers(1, 2), "width": widths, "stride": st.integers(1, 3)})
        body["stages"] = draw(st.lists(stage, min_size=1, max_size=3))
    if not block.startswith("preact") and draw(st.booleans()):
        body["placement"] = draw(st.sampled_from(PLACEMENTS))
    if body["residual"]:
        body.update(draw(st.sampled_from(SHORTCUT_VARIANTS)))
        if body.get("gate", "none") != "none" and draw(st.booleans()):
            body["gate_bias"] = draw(st.floats(-10.0, 10.0))
    if block.endswith("bottleneck"):
        body.update(draw(st.fixed_dictionaries({}, optional={
            "expansion": st.integers(1, 4), "stride_at": st.sampled_from(["1x1", "3x3"]),
            "width_per_group": st.sampled_from([16, 32, 64, 128]),
        })))
    return {
        "name": "fuzzed",
        "input": {"channels": draw(st.integers(1, 3)), "size": draw(SIZES[stem]), "classes": draw(st.integers(1, 10))},
        "stem": {"kind": stem, "width": groups * draw(st.integers(1, 6))},
        "body": body,
        "head": draw(st.fixed_dictionaries({}, optional={
            "pool": st.sampled_from(["avg", "max"]), "dropout": st.floats(0.0, 0.9)
        })),
        "train": draw(st.fixed_dictionaries({}, optional={
            "epochs": st.integers(1, 500), "lr": st.floats(1e-6, 10.0), "optimizer": st.sampled_from(["sgd", "adamw"]),
            "schedule": st.sampled_from(["multistep", "cosine", "constant"]),
            "milestones": st.lists(st.floats(0.01, 0.99), max_size=3), "seed": st.integers(0, 2**63 - 1),
            "data": st.sampled_from(["digits", "synthetic", "cifar10:data/c i f a r", "imagefolder:/x/\u00e9\u202e"]),
        })),
    }


def _valid(data: dict[str, Any], outcomes: Counter[str]) -> NetSpec:
    try:
        spec = parse_spec(data, checks=SPEC_CHECKS)
    except SpecError:
        outcomes["refused"] += 1
        assume(False)
        raise
    outcomes["valid"] += 1
    body = spec.body
    outcomes["ablation"] += body.placement is not None or body.gate != "none" or body.shortcut_dropout > 0
    return spec


@pytest.mark.slow  # builds ~40 networks (meta tensors)
@examples(40)
@given(small_specs())
def test_analysis_equals_the_built_module(data: dict[str, Any]) -> None:
    spec = _valid(data, TALLY.of(test_analysis_equals_the_built_module))
    complexity = analyze(spec)
    # the oracle runs the module in training mode at batch 1, where BatchNorm refuses a 1x1 map (one value)
    assume(complexity.stages[-1].out_shape[1] > 1)
    expected, actual = predicted(complexity), measure(spec, "meta")
    assert actual.keys() == expected.keys()
    wrong = {path: (expected[path], actual[path]) for path in expected if expected[path] != actual[path]}
    assert not wrong, f"analysis != module at {sorted(wrong)[:5]}: {wrong}"


@examples(150)
@given(small_specs(), st.booleans(), st.booleans())
def test_dump_load_round_trips_and_dump_is_a_fixed_point(data: dict[str, Any], comments: bool, defaults: bool) -> None:
    spec = _valid(data, TALLY.of(test_dump_load_round_trips_and_dump_is_a_fixed_point))
    text = dump_spec(spec, comments=comments, defaults=defaults)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "written.toml"
        path.write_text(text, encoding="utf-8")
        again = read_spec(path, checks=SPEC_CHECKS)
    assert again == spec
    assert dump_spec(again, comments=comments, defaults=defaults) == text


def test_most_generated_specs_were_valid() -> None:
    """Control: the round trip above ran on many valid specs (a generator that only made invalid ones would pass
    it vacuously through `assume`)."""
    outcomes = TALLY.after(test_dump_load_round_trips_and_dump_is_a_fixed_point)
    assert outcomes["valid"] > 100 and outcomes["valid"] > outcomes["refused"], outcomes
    assert outcomes["ablation"] > 20, outcomes  # He et al. 2016b's placements, gates and dropout among them


def test_the_oracle_sees_a_wrong_analysis() -> None:
    """Control: measure/predicted disagree when the analysis is of another spec."""
    a = parse_spec({"name": "a", "input": {"size": 8, "classes": 2}, "stem": {"kind": "cifar", "width": 4},
                    "body": {"block": "basic", "depths": [1], "width": 4}})
    b = a.model_copy(update={"body": a.body.model_copy(update={"shortcut": "C"})})
    assert predicted(analyze(a)) != measure(b, "meta")
