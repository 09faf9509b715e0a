"""The search-space language: located errors for bad spaces, budgets checked before any trial, shipped spaces valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY, write_spec

import archgen
from archgen.spec.library import LIBRARY_ROOT
from archgen.spec.search_points import apply_point, base_data


def problems(tmp_path: Path, extra: str, text: str = TINY) -> list[str]:
    with pytest.raises(archgen.SpecError) as caught:
        archgen.load_spec(write_spec(tmp_path, text, extra))
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize("path", sorted((LIBRARY_ROOT / "search").glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_search_specs_are_valid(path: Path) -> None:
    spec = archgen.load_spec(path)
    assert spec.search is not None and spec.search.params


def test_unknown_field_is_located_with_a_suggestion(tmp_path: Path) -> None:
    found = problems(tmp_path, '"body.widht" = { low = 4, high = 8 }\n')
    line = TINY.count("\n") + 1  # the line the extra key is written on
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'space.toml'}:{line}: search.params.body.widht: ")
    assert "did you mean 'body.width'?" in found[0]


def test_empty_range_and_bad_choice(tmp_path: Path) -> None:
    text = TINY.replace('"body.depths.0" = { low = 1, high = 4 }', '"body.depths.0" = { low = 4, high = 2 }')
    text = text.replace(
        '"body.width" = { choices = [4, 8, 12, 16] }', '"body.block" = { choices = ["basic", "botleneck"] }'
    )
    found = problems(tmp_path, "", text)
    assert any("search.params.body.depths.0.high: empty range: high 2 is below low 4" in p for p in found)
    assert any("search.params.body.block.choices.1: 'botleneck' is not a body.block value" in p for p in found)


def test_index_past_the_base_and_a_range_on_a_name_field(tmp_path: Path) -> None:
    found = problems(tmp_path, '"body.depths.3" = { low = 1, high = 2 }\n"stem.kind" = { low = 1, high = 2 }\n')
    assert any("body.depths.3" in p and "index 3 does not exist" in p for p in found)
    assert any("search.params.stem.kind: " in p and "choices" in p for p in found)


def test_a_space_with_no_valid_point(tmp_path: Path) -> None:
    # option A zero-pads channels, so a stem wider than every first stage can never be valid
    found = problems(
        tmp_path,
        '"stem.width" = { choices = [64] }\n',
        TINY.replace("depths = [1, 1]", 'depths = [1, 1]\nshortcut = "A"'),
    )
    assert any("no point of this space is a valid spec" in p for p in found)


def test_every_point_over_budget_is_refused_before_any_trial(tmp_path: Path) -> None:
    found = problems(tmp_path, "", TINY.replace('pruner = "none"', 'pruner = "none"\nmax_params = 500'))
    assert len(found) == 1
    assert "search.max_params: every point of the space breaks this budget; the cheapest has" in found[0]


def test_a_budget_some_points_meet_is_accepted(tmp_path: Path) -> None:
    spec = archgen.load_spec(
        write_spec(tmp_path, TINY.replace('pruner = "none"', 'pruner = "none"\nmax_params = 5000'))
    )
    assert spec.search is not None and spec.search.max_params == 5000


def test_hyperband_needs_one_objective_and_grid_needs_finite_ranges(tmp_path: Path) -> None:
    text = TINY.replace(
        'pruner = "none"', 'pruner = "hyperband"\nobjectives = ["accuracy", "params"]\nsampler = "grid"'
    )
    text = text.replace('"train.lr" = { choices = [0.05, 0.1] }', '"train.lr" = { low = 0.01, high = 0.1, log = true }')
    found = problems(tmp_path, "", text)
    assert any("search.pruner: hyperband prunes one objective only" in p for p in found)
    assert any("search.sampler: grid needs finite ranges; give train.lr a step or choices" in p for p in found)


def test_a_point_is_data_applied_to_the_base(tmp_path: Path) -> None:
    spec = archgen.load_spec(write_spec(tmp_path))
    data = apply_point(base_data(spec), {"body.depths.*": 3, "train.lr": 0.2, "body.residual": False}, name="p")
    assert data["body"]["depths"] == [3, 3] and data["train"]["lr"] == 0.2 and data["body"]["residual"] is False
    assert "search" not in data and data["name"] == "p"
    assert base_data(spec)["body"]["depths"] == [1, 1]  # the base is untouched
