"""`archgen spaces`: models sampled uniformly at matched complexity from each space (exact analysis, nothing built),
each space a study of its own that resumes and reuses trials of the same point and recipe, and the comparison's
numbers; bad input is one line naming what is wrong (and the band each space spans), with nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY, write_spec
from in_process import archgen_here

import archgen
from archgen.errors import SearchError
from archgen.search import (
    Band,
    compare_spaces,
    optimize,
    parse_band,
    resolve_spec,
    sample_spaces,
)
from archgen.search.spaces import space_config
from archgen.spec.schema import NetSpec

DOUBLING = TINY.replace('pruner = "none"', 'pruner = "none"\nsampler = "random"').replace(
    '"train.lr" = { choices = [0.05, 0.1] }\n', "")
FREE = DOUBLING.replace('[body]\nblock = "basic"\ndepths = [1, 1]\nwidth = 8\n',
                        '[body]\nblock = "basic"\nstages = [{ depth = 1, width = 8, stride = 1 }, '
                        '{ depth = 1, width = 16, stride = 2 }]\n').replace(
    '"body.depths.0" = { low = 1, high = 4 }\n"body.depths.1" = { low = 1, high = 4 }\n'
    '"body.width" = { choices = [4, 8, 12, 16] }\n',
    '"body.stages.0.depth" = { low = 1, high = 4 }\n"body.stages.1.depth" = { low = 1, high = 4 }\n'
    '"body.stages.0.width" = { choices = [4, 8, 12, 16] }\n"body.stages.1.width" = { choices = [8, 16, 24, 32] }\n')


def two_spaces(tmp_path: Path) -> list[tuple[str, NetSpec]]:
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "b").mkdir(exist_ok=True)
    first = write_spec(tmp_path / "a", DOUBLING.replace('name = "tiny-search"', 'name = "doubling"'))
    second = write_spec(tmp_path / "b", FREE.replace('name = "tiny-search"', 'name = "free"'))
    return [(str(first), archgen.load_spec(first)), (str(second), archgen.load_spec(second))]


def test_models_are_distinct_valid_points_within_the_band_every_space_covers(tmp_path: Path) -> None:
    spaces = two_spaces(tmp_path)
    band, sampled = sample_spaces(spaces, samples=8, band=None, seed=0)
    assert band.measure == "macs" and band.low == max(s.span[0] for s in sampled)
    assert band.high == min(s.span[1] for s in sampled)
    for space in sampled:
        assert len(space.models) == 8 and len({tuple(sorted(m.point.items())) for m in space.models}) == 8
        assert all(band.low <= model.macs <= band.high for model in space.models)
    again = sample_spaces(spaces, samples=8, band=None, seed=0)
    assert again[1][0].models == sampled[0].models  # the same seed samples the same models
    assert sample_spaces(spaces, samples=8, band=None, seed=1)[1][0].models != sampled[0].models


def test_the_complexities_are_the_analysis_exact_counts(tmp_path: Path) -> None:
    from archgen.search.space import trial_spec

    [(_, spec), _] = two_spaces(tmp_path)
    _, [space, _] = sample_spaces(two_spaces(tmp_path), samples=4, band=None)
    for model in space.models:
        cost = archgen.analyze(trial_spec(spec, model.point, number=0, seed=0))
        assert (model.params, model.macs) == (cost.params, cost.macs)


def test_bands_are_written_lo_to_hi_with_k_m_g() -> None:
    assert parse_band("100k..1.5M", "macs") == Band("macs", 100_000, 1_500_000)
    assert parse_band("2000..3000", "params") == Band("params", 2000, 3000)
    with pytest.raises(SearchError, match=r"write the band as LO\.\.HI"):
        parse_band("100k-2M", "macs")
    with pytest.raises(SearchError, match=r"'lots' is not a count"):
        parse_band("lots..2M", "macs")
    with pytest.raises(SearchError, match="low end is above its high end"):
        parse_band("2M..1M", "macs")


def test_bad_spaces_are_refused_naming_what_differs(tmp_path: Path) -> None:
    spaces = two_spaces(tmp_path)
    with pytest.raises(SearchError, match="compares two search spaces or more"):
        sample_spaces(spaces[:1], samples=4, band=None)
    other = spaces[1][1].model_copy(update={"train": spaces[1][1].train.model_copy(update={"data": "synthetic"})})
    with pytest.raises(SearchError, match=r"trains on synthetic, .* on digits: spaces are compared on the same data"):
        sample_spaces([spaces[0], (spaces[1][0], other)], samples=4, band=None)
    classes = spaces[1][1].model_copy(update={"input": spaces[1][1].input.model_copy(update={"classes": 5})})
    with pytest.raises(SearchError, match=r"classifies 5 classes, .* 10: spaces are compared on the same task"):
        sample_spaces([spaces[0], (spaces[1][0], classes)], samples=4, band=None)


def test_a_band_no_model_falls_in_says_the_band_each_space_spans(tmp_path: Path) -> None:
    spaces = two_spaces(tmp_path)
    _, sampled = sample_spaces(spaces, samples=2, band=None)
    with pytest.raises(SearchError) as caught:
        sample_spaces(spaces, samples=2, band=Band("macs", 10**12, 10**13))
    spans = ", ".join(f"{label} spans MACs {_amount(space.span[0])}..{_amount(space.span[1])}"
                      for (label, _), space in zip(spaces, sampled, strict=True))
    assert str(caught.value) == f"no model of {spaces[0][0]} falls in MACs 1e+03G..1e+04G; {spans}"


def _amount(count: int) -> str:
    from archgen.search import amount

    return amount(count)


# --- training: a study per space, resumed, reusing ---------------------------------------------------------------


COUNT: list[str] = []


def counted(spec: NetSpec, *, device: str, listener: Any) -> None:
    from fakes import fake_train

    COUNT.append(spec.name)
    fake_train(spec, device=device, listener=listener)


def test_each_space_trains_its_models_once_and_the_comparison_reads_their_errors(tmp_path: Path) -> None:
    band, sampled = sample_spaces(two_spaces(tmp_path), samples=5, band=None)
    COUNT.clear()
    found = compare_spaces(band, sampled, out=tmp_path / "out", trainer=counted)
    assert len(COUNT) == 10
    from fakes import error_of

    from archgen.search.space import trial_spec

    for trained in found.spaces:
        spec = resolve_spec(trained.space.spec)
        assert spec.search is not None
        expected = [error_of(trial_spec(spec, model.point, number=0, seed=0), spec.search.epochs)
                    for model in trained.space.models]
        assert list(trained.errors) == pytest.approx(expected)
        assert trained.best == pytest.approx(min(expected)) and trained.reused == 0
    [distance] = found.distances
    assert 0.0 <= distance.ks.mean <= 1.0 and (distance.first, distance.second) == (sampled[0].label,
                                                                                    sampled[1].label)
    # the same command again: each study has its models, nothing is trained
    COUNT.clear()
    compare_spaces(band, sampled, out=tmp_path / "out", trainer=counted)
    assert COUNT == []


def test_finished_trials_of_the_same_point_and_recipe_are_reused(tmp_path: Path) -> None:
    band, sampled = sample_spaces(two_spaces(tmp_path), samples=4, band=None)
    earlier = space_config(sampled[0], out=tmp_path / "earlier", trainer=counted)
    optimize(earlier, points=[model.point for model in sampled[0].models[:3]])
    COUNT.clear()
    notes: list[str] = []
    found = compare_spaces(band, sampled, out=tmp_path / "out", trainer=counted, reuse=[tmp_path / "earlier" /
                                                                                       earlier.study],
                           on_note=notes.append)
    assert found.spaces[0].reused == 3 and len(COUNT) == 1 + 4  # the fourth model, and the other space's four
    assert any(note.startswith("imported 3 of 4 finished trials") for note in notes), notes
    # the other space's models are no points of the first's study: none of its trials is reused there
    assert any(note.startswith("imported 0 of 4 finished trials") and "(4 outside the space" in note
               for note in notes), notes


# --- the command ---------------------------------------------------------------------------------------------------


def test_dry_run_shows_the_models_and_writes_nothing(tmp_path: Path) -> None:
    spaces = two_spaces(tmp_path)
    result = archgen_here("spaces", spaces[0][0], spaces[1][0], "--samples", "3", "--dry-run", "--json",
                          "--out", str(tmp_path / "out"))
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [len(space["models"]) for space in document["spaces"]] == [3, 3]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--macs", "1k..2k", "--params", "1k..2k"], "--macs and --params are two complexity bands; give one"),
    (["--macs", "1k-2k"], "write the band as LO..HI, e.g. 100k..2M"),
])
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    spaces = two_spaces(tmp_path)
    result = archgen_here("spaces", spaces[0][0], spaces[1][0], *args, "--out", str(tmp_path / "out"))
    assert result.code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_one_space_and_an_empty_band_are_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    spaces = two_spaces(tmp_path)
    one = archgen_here("spaces", spaces[0][0], "--out", str(tmp_path / "out"))
    assert one.code == 2 and "compares two search spaces or more; got one" in one.stderr
    empty = archgen_here("spaces", spaces[0][0], spaces[1][0], "--macs", "1G..2G", "--out", str(tmp_path / "out"))
    assert empty.code == 1 and empty.stderr.startswith(f"error: no model of {spaces[0][0]} falls in MACs 1G..2G; ")
    assert f"{spaces[1][0]} spans MACs " in empty.stderr and len(empty.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_shipped_pair_end_to_end_on_digits(tmp_path: Path) -> None:
    result = archgen_here("spaces", "design-doubling", "design-free-widths", "--samples", "3", "--epochs", "1",
                          "--device", "cpu", "--out", str(tmp_path / "out"))
    assert result.code == 0, result.stderr
    assert "Kolmogorov–Smirnov distance" in result.stdout and "design-doubling" in result.stdout
    assert (tmp_path / "out" / "edf.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "design-doubling" / "journal.log").is_file()
