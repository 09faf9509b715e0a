"""Warm starts: `[search] enqueue` trains known specs first (each mapped back to a point without torch; one the space
cannot express is refused at its line), and `--from-study DIR` imports another study's finished trials that are points
of this space, trained alike, without training them again. Fake trainers: every number is exact."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY, make_config, write_spec
from in_process import archgen_here

import archgen
from archgen.errors import SearchError
from archgen.search import SearchConfig, optimize, other_study, resolve_spec
from archgen.search.space import trial_spec
from archgen.spec.writer import dump_spec

TRAINED: list[str] = []


def logged(spec: Any, *, device: str, listener: Any) -> None:
    from fakes import fake_train

    TRAINED.append(spec.name)
    fake_train(spec, device=device, listener=listener)


def point_file(folder: Path, name: str, point: dict[str, Any], **train: Any) -> Path:
    """A spec file of the TINY space's point (as `archgen search` writes a winner), its recipe changed by `train`."""
    base = archgen.load_spec(write_spec(folder))
    spec = trial_spec(resolve_spec(base), point, number=7, seed=3)
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"epochs": 30, **train})})
    path = folder / name
    path.write_text(dump_spec(spec))
    return path


POINT = {"body.depths.0": 3, "body.depths.1": 1, "body.width": 12, "train.lr": 0.1}


def config_with(tmp_path: Path, extra: str = "", *, trials: int = 3, **options: Any) -> SearchConfig:
    config = make_config(tmp_path, trials=trials, trainer=logged, **options)
    spec = resolve_spec(archgen.load_spec(write_spec(tmp_path, TINY.replace("[search.params]", extra +
                                                                            "\n[search.params]"))))
    return dataclasses.replace(config, spec=spec)


# --- [search] enqueue ----------------------------------------------------------------------------------------------


def test_an_enqueued_spec_is_trained_first_and_only_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # enqueued files are read as train.init is: from the working folder
    point_file(tmp_path, "known.toml", POINT)
    config = config_with(tmp_path, 'enqueue = ["known.toml"]')
    notes: list[str] = []
    TRAINED.clear()
    study = optimize(config, on_note=notes.append).study
    first = study.trials[0]
    assert first.params == POINT and first.user_attrs["enqueued"] == "known.toml" and first.state.name == "COMPLETE"
    assert notes == ["enqueued the 1 specs of search.enqueue"]
    # resumed with more trials: the point is trained already, so it is not queued again
    notes.clear()
    again = optimize(dataclasses.replace(config, trials=5), on_note=notes.append).study
    assert notes == [] and sum(t.params == POINT for t in again.trials) == 1


def test_an_enqueued_spec_the_space_cannot_express_is_refused_at_its_line(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    point_file(tmp_path, "wide.toml", {**POINT, "body.width": 20})
    point_file(tmp_path, "slow.toml", POINT, batch_size=32)
    point_file(tmp_path, "fine.toml", POINT)
    space = write_spec(tmp_path, TINY.replace(
        "[search.params]", 'enqueue = [\n  "fine.toml",\n  "wide.toml",\n  "slow.toml",\n  "missing.toml",\n'
        '  "resnet20",\n]\n[search.params]'))
    result = archgen_here("validate", str(space))
    assert result.code == 1
    lines = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if "search.enqueue" in line]
    assert lines == [
        f"{space}:23: search.enqueue.1: 'wide.toml': body.width = 20 is not one of its choices [4, 8, 12, 16]",
        f"{space}:23: search.enqueue.2: 'slow.toml': it changes the recipe: train.batch_size (32 where the space has "
        "64)",
        f"{space}:23: search.enqueue.3: 'missing.toml': no such file",
        f"{space}:23: search.enqueue.4: 'resnet20': it differs from the space's network in body.shortcut ('A' where "
        "the space has 'B'); body.stages.depth ([3, 3, 3] where the space has [3, 3]); body.stages.stride ([1, 2, 2] "
        "where the space has [1, 2]); and 4 more",
    ]  # fine.toml, a point of the space trained alike, is not among them


# --- --from-study ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> SearchConfig:
    """A study of 6 finished trials of the TINY space (fake trainer), shared by the import tests."""
    folder = tmp_path_factory.mktemp("first")
    config = config_with(folder, trials=6, seed=1)
    optimize(config)
    return config


def source_folder(config: SearchConfig) -> Path:
    assert config.storage.journal is not None
    return config.storage.journal.parent


def test_a_widened_space_imports_the_trials_inside_it_and_trains_only_the_rest(earlier: SearchConfig,
                                                                                  tmp_path: Path) -> None:
    """The new space adds width 20 and drops width 4: a trial of width 4 is outside it, every other is imported."""
    wider = TINY.replace('choices = [4, 8, 12, 16]', 'choices = [8, 12, 16, 20]')
    config = dataclasses.replace(config_with(tmp_path, trials=8), spec=resolve_spec(archgen.load_spec(
        write_spec(tmp_path, wider))), study="wider")
    first = [t for t in _trials(earlier) if t.state.name in ("COMPLETE", "PRUNED")]
    narrow = sum(t.params["body.width"] == 4 for t in first)
    notes: list[str] = []
    TRAINED.clear()
    study = optimize(config, from_study=[other_study(source_folder(earlier), config)], on_note=notes.append).study
    source = f"study 'tiny' in {source_folder(earlier)}"
    assert notes == [f"imported {len(first) - narrow} of {len(first)} finished trials of {source} ({narrow} outside "
                     "the space, 0 trained differently)"]
    imported = [t for t in study.trials if "imported_from" in t.user_attrs]
    assert len(imported) == len(first) - narrow and len(TRAINED) == 8 - len(imported)  # only the rest trained
    by_point = {tuple(sorted(t.params.items())): t for t in first}
    for trial in imported:
        original = by_point[tuple(sorted(trial.params.items()))]
        assert trial.values == original.values and trial.user_attrs["history"] == original.user_attrs["history"]
    # resumed with the same --from-study, nothing is imported twice
    notes.clear()
    optimize(dataclasses.replace(config, trials=9), from_study=[other_study(source_folder(earlier), config)],
             on_note=notes.append)
    assert notes[0].startswith(f"imported 0 of {len(first)} finished trials of {source} ({narrow} outside the space, "
                               f"0 trained differently; {len(first) - narrow} imported before)")


def test_trials_at_a_learning_rate_this_space_does_not_train_at_are_trained_differently(
        earlier: SearchConfig, tmp_path: Path) -> None:
    fixed = TINY.replace('"train.lr" = { choices = [0.05, 0.1] }\n', "")
    config = dataclasses.replace(config_with(tmp_path), spec=resolve_spec(archgen.load_spec(
        write_spec(tmp_path, fixed))), study="fixed")
    found = [t for t in _trials(earlier) if t.state.name in ("COMPLETE", "PRUNED")]
    at_base = sum(t.params["train.lr"] == 0.05 for t in found)  # TINY's train.lr is 0.05
    notes: list[str] = []
    optimize(config, from_study=[other_study(source_folder(earlier), config)], on_note=notes.append)
    assert f"({0} outside the space, {len(found) - at_base} trained differently)" in notes[0], notes


def _trials(config: SearchConfig) -> list[Any]:
    from archgen.search import load_study

    return load_study(config.storage, config.study).trials


def test_a_study_to_import_from_is_refused_in_one_line_before_anything_is_written(earlier: SearchConfig,
                                                                                  tmp_path: Path) -> None:
    config = config_with(tmp_path)
    with pytest.raises(SearchError, match=r"--from-study .*nothing: no study folder \(no journal.log in it\)"):
        other_study(tmp_path / "nothing", config)
    with pytest.raises(SearchError, match=r"that is this search's own study 'tiny'; its trials are resumed"):
        other_study(source_folder(earlier), earlier)
    digits = dataclasses.replace(config, spec=config.spec.model_copy(update={"train": config.spec.train.model_copy(
        update={"data": "synthetic:1x8x8,classes=10"})}))
    with pytest.raises(SearchError, match=r"its study trained on digits, this search trains on synthetic:1x8x8"):
        other_study(source_folder(earlier), digits)
    (tmp_path / "longer").mkdir()
    longer = dataclasses.replace(config, spec=resolve_spec(archgen.load_spec(write_spec(
        tmp_path / "longer", TINY.replace("[search]\nepochs = 2", "[search]\nepochs = 5")))))
    with pytest.raises(SearchError, match=r"trained differently from this search's: search.epochs 2 \(this search: "
                                          r"5\)"):
        other_study(source_folder(earlier), longer)
    assert not (tmp_path / "study").exists() and not (tmp_path / "out").exists()


def test_from_study_refusals_are_one_line_from_the_command(earlier: SearchConfig, tmp_path: Path) -> None:
    space = write_spec(tmp_path)
    result = archgen_here("search", str(space), "--from-study", str(tmp_path / "nothing"), "--out",
                          str(tmp_path / "out"), "--storage", str(tmp_path / "j.log"))
    assert result.code == 1 and result.stderr.strip().splitlines() == [
        f"error: --from-study {tmp_path / 'nothing'}: no study folder (no journal.log in it)"]
    assert not (tmp_path / "j.log").exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("storage", [None, "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_both_work_with_workers_on_every_storage(earlier: SearchConfig, tmp_path: Path, storage: str | None,
                                                 monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
                                                 ) -> None:
    """Two worker processes, on the default journal, SQLite or PostgreSQL: the imported trials are not trained
    again, and the enqueued point is trained once, by one worker."""
    from fakes import fake_train

    monkeypatch.chdir(tmp_path)
    log = tmp_path / "trained.jsonl"
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(log))
    point_file(tmp_path, "known.toml", {**POINT, "body.width": 16, "body.depths.0": 4})
    url = {None: None, "sqlite": f"sqlite:///{tmp_path / 'study.db'}"}.get(storage) if storage != "postgres" else \
        request.getfixturevalue("postgres_url")
    config = dataclasses.replace(config_with(tmp_path, 'enqueue = ["known.toml"]', trials=8, storage=url,
                                             workers=2), trainer=fake_train, study=f"shared-{tmp_path.name}"[:64])
    notes: list[str] = []
    study = optimize(config, from_study=[other_study(source_folder(earlier), config)], on_note=notes.append).study
    imported = [t for t in study.trials if "imported_from" in t.user_attrs]
    trained = [json.loads(line) for line in log.read_text().splitlines()]
    assert imported and len(trained) == 8 - len(imported), notes
    assert sum(t.user_attrs.get("enqueued") == "known.toml" for t in study.trials) == 1
    assert notes[1] == "enqueued the 1 specs of search.enqueue"
