"""`max_activations`, a budget beside max_params and max_macs: activations per image (pycls's count, `analyze().acts`),
what training memory grows with, refused by the analysis before anything is built."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from conftest import TINY, write_spec

import archgen
from archgen.analysis import check_budget
from archgen.spec.search_points import apply_point


def with_budget(tmp_path: Path, budget: str) -> Path:
    return write_spec(tmp_path, TINY.replace('pruner = "none"', f'pruner = "none"\n{budget}'))


def cheapest_acts() -> int:
    """Activations of the space's cheapest point (one block per stage, width 4) at the base spec's 8x8."""
    base = tomllib.loads(TINY)
    del base["search"]
    point = apply_point(base, {"body.depths.0": 1, "body.depths.1": 1, "body.width": 4})
    return archgen.analyze(archgen.parse_spec(point)).acts


def test_a_point_over_max_activations_is_over_budget(tmp_path: Path) -> None:
    spec = archgen.load_spec(with_budget(tmp_path, f"max_activations = {cheapest_acts()}"))
    assert spec.search is not None
    cost = archgen.analyze(spec)  # the base: two stages of one block at width 8, more than the cheapest point
    verdict = check_budget(spec.search, cost)
    assert not verdict.fits and verdict.field == "max_activations"
    assert verdict.reason == f"{cost.acts:,} activations > max_activations {cheapest_acts():,}"
    # control: a budget the network meets
    roomy = spec.search.model_copy(update={"max_activations": cost.acts})
    assert check_budget(roomy, cost).fits


def test_a_space_whose_every_point_breaks_it_is_refused_before_any_trial(tmp_path: Path) -> None:
    with pytest.raises(archgen.SpecError) as caught:
        archgen.load_spec(with_budget(tmp_path, f"max_activations = {cheapest_acts() - 1}"))
    found = [str(problem) for problem in caught.value.problems]
    assert len(found) == 1
    assert "search.max_activations: every point of the space breaks this budget; the cheapest has " \
           f"{cheapest_acts():,} activations > max_activations {cheapest_acts() - 1:,}" in found[0]
    # control: one activation more and the cheapest point fits, so the space is accepted
    assert archgen.load_spec(with_budget(tmp_path, f"max_activations = {cheapest_acts()}")).search is not None


def test_max_activations_must_be_a_positive_integer(tmp_path: Path) -> None:
    with pytest.raises(archgen.SpecError) as caught:
        archgen.load_spec(with_budget(tmp_path, "max_activations = 0"))
    assert any("search.max_activations" in str(problem) for problem in caught.value.problems)
