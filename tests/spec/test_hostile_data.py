"""Any data at all, valid or not, gives a NetSpec or a SpecError with located problems: never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archgen.analysis import SPEC_CHECKS
from archgen.errors import SpecError
from archgen.spec import parse_spec

_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, 3, 4, 7, 16, 64, 1000, 8192, 8193, 2**31]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
_words = st.sampled_from(["basic", "bottleneck", "preact_bottleneck", "A", "B", "C", "cifar", "imagenet", "deep"])
_scalars = st.one_of(_numbers, st.text(max_size=12), _words)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_small = st.integers(min_value=1, max_value=12)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, _values)


_body = st.fixed_dictionaries(
    {"block": _maybe(st.sampled_from(["basic", "bottleneck", "preact_basic", "preact_bottleneck"]))},
    optional={
        "depths": _maybe(st.lists(_small, min_size=1, max_size=9)),
        "width": _maybe(st.sampled_from([1, 3, 8, 16, 64, 4096, 8192])),
        "stages": _maybe(st.lists(st.fixed_dictionaries({"depth": _maybe(_small), "width": _maybe(_small),
                                                         "stride": _maybe(st.integers(0, 5))}), max_size=3)),
        "shortcut": _maybe(st.sampled_from(["A", "B", "C"])),
        "residual": _maybe(st.booleans()),
        "expansion": _maybe(st.integers(0, 17)),
        "groups": _maybe(st.sampled_from([1, 2, 3, 32, 64])),
        "width_per_group": _maybe(st.sampled_from([1, 4, 64, 128])),
        "stride_at": _maybe(st.sampled_from(["1x1", "3x3"])),
    },
)
_spec = st.fixed_dictionaries(
    {
        "name": _maybe(st.just("net")),
        "input": _maybe(st.fixed_dictionaries({"size": _maybe(st.sampled_from([1, 2, 8, 32, 224, 4096])),
                                               "classes": _maybe(_small)})),
        "stem": _maybe(st.fixed_dictionaries({"kind": _maybe(st.sampled_from(["cifar", "imagenet", "deep"])),
                                              "width": _maybe(st.sampled_from([1, 2, 16, 64, 8192]))})),
        "body": _maybe(_body),
    },
    optional={"depth": _values, "head": _values, "train": _values, "reference": _values, "extra": _values},
)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_spec)
def test_any_data_is_a_spec_or_located_problems(data: dict[str, Any]) -> None:
    try:
        parse_spec(data, checks=SPEC_CHECKS)
    except SpecError as error:
        assert error.problems
        assert all(problem.message and str(problem).isprintable() for problem in error.problems), error.problems
