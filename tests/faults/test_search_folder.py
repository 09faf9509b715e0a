"""What a study keeps in its folder is its own: two studies given the same `--out` shared trials/trial-N/ (specs and
weights a deeper trial grows from) and tensorboard/trial-N/, and the second replaced the first's without `--force`.
Every kept file now goes through the folder's manifest, as best.toml does: written only where no other study's is,
read back only if this study wrote it, unchanged. And a grown winner's best.toml says where its weights came from.

Controls: the same study resumed in its folder passes (its new trials have new numbers); `--force` replaces, so the
bytes compared are bytes that can change; a kept file of the study's own is read back until it is changed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from search_helpers import TINY, make_config, write_spec

import archgen
from archgen.files import OutputExists
from archgen.search import SearchConfig, optimize, resolve_spec, study_results, winner_files
from archgen.search.depth import Kept
from archgen.search.outputs import MANIFEST

GROW = TINY[: TINY.index("[search]")] + (  # depth alone varies: each deeper trial can grow from a shallower one
    '[search]\nepochs = 1\npruner = "none"\nsampler = "grid"\ngrow = true\n[search.params]\n'
    '"body.depths.*" = { choices = [1, 2, 3, 4, 5] }\n'
)


def grow_config(tmp_path: Path, *, study: str, trials: int = 3, **options: object) -> SearchConfig:
    """A search that grows and keeps its trials' files (a fake trainer that hands over a built network), in the
    study folder tmp_path/out, its study in the journal tmp_path/study/journal.log."""
    from fakes import keeping_train

    config = make_config(tmp_path, trials=trials, study=study, trainer=keeping_train, **options)
    return dataclasses.replace(config, spec=resolve_spec(archgen.load_spec(write_spec(tmp_path, GROW))))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file the study folder keeps for trials, by name, with its bytes."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for kind in ("trials", "tensorboard") for path in sorted((folder / kind).rglob("*")) if path.is_file()}


@pytest.fixture
def first(tmp_path: Path) -> dict[str, bytes]:
    """Study `first` searched, growing, into tmp_path/out: what it kept there."""
    config = grow_config(tmp_path, study="first")
    assert optimize(config).verdict == "done"
    kept = snapshot(config.out)
    assert any(name.endswith("weights.safetensors") for name in kept)
    assert any(name.endswith("grown.safetensors") for name in kept), "a deeper trial grew from a shallower one"
    assert any(name.startswith("tensorboard/trial-") for name in kept)
    return kept


def test_a_second_study_in_the_same_folder_is_refused_before_it_trains(tmp_path: Path,
                                                                       first: dict[str, bytes]) -> None:
    second = grow_config(tmp_path, study="second")
    with pytest.raises(OutputExists, match="pass --force to replace it"):
        optimize(second)
    assert snapshot(second.out) == first  # every spec, weight and event file of the first, byte for byte
    from archgen.search import load_study

    assert load_study(second.storage, "second").trials == []  # refused before any trial was claimed


@pytest.mark.parametrize("entry", ["trials/trial-0/spec.toml", "trials/trial-0/weights.safetensors",
                                   "trials/trial-2/grown.safetensors", "trials/trial-7/notes.txt",
                                   "tensorboard/trial-0/"])
def test_anything_kept_where_a_new_study_would_keep_its_trials_is_refused(tmp_path: Path, entry: str) -> None:
    """Every kind of kept entry, whoever left it (here, no study at all: a person's own file or folder)."""
    config = grow_config(tmp_path, study="mine")
    path = config.out / entry
    path.parent.mkdir(parents=True)
    path.mkdir() if entry.endswith("/") else path.write_bytes(b"someone else's")
    with pytest.raises(OutputExists) as refused:
        optimize(config)
    assert Path(refused.value.path) == path.parent / path.name  # named: the one entry in the way
    assert not (config.out / "trials" / "trial-1").exists()  # nothing trained


def test_the_command_refuses_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`archgen search` says which entry is in the way and that --force replaces it, before any trial trains."""
    from search_helpers import one_line_error, run_archgen

    write_spec(tmp_path, GROW)
    kept = tmp_path / "o" / "tensorboard" / "trial-0"
    kept.mkdir(parents=True)
    ran = run_archgen(["search", str(tmp_path / "space.toml"), "--out", str(tmp_path / "o"), "--trials", "1",
                       "--storage", str(tmp_path / "j.log")], capsys)
    assert one_line_error(ran, naming=str(kept)).endswith("exists; pass --force to replace it")
    assert sorted(path.name for path in (tmp_path / "o").rglob("*")) == ["tensorboard", "trial-0"]


def test_control_the_same_study_resumed_in_its_folder_keeps_on(tmp_path: Path, first: dict[str, bytes]) -> None:
    """The check is not a blanket refusal: `first` resumed for two more trials keeps theirs beside its own."""
    config = grow_config(tmp_path, study="first", trials=5)
    assert optimize(config).verdict == "done"
    now = snapshot(config.out)
    assert {name: now[name] for name in first} == first and len(now) > len(first)


def test_a_write_that_races_the_check_is_refused_at_the_write(tmp_path: Path, first: dict[str, bytes],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that appeared after the check (another search started meanwhile) is still not replaced: each write
    checks the manifest again, and the trial fails with the refusal's line."""
    import archgen.search.workers

    monkeypatch.setattr(archgen.search.workers, "check_kept", lambda *args, **kwargs: None)
    second = grow_config(tmp_path, study="second")
    with pytest.raises(OutputExists):
        optimize(second)
    assert snapshot(second.out) == first
    from archgen.search import load_study

    [trial] = load_study(second.storage, "second").trials
    assert trial.state.name == "FAIL" and "pass --force" in trial.user_attrs["reason"]


def test_control_force_replaces_what_another_study_kept(tmp_path: Path, first: dict[str, bytes]) -> None:
    """With --force the second study writes over the first's trial files (so the byte comparisons above compare
    bytes that do change), and the folder's manifest is the second's."""
    second = grow_config(tmp_path, study="second", force=True)
    assert optimize(second).verdict == "done"
    now = snapshot(second.out)
    assert any(now.get(name) != data for name, data in first.items() if name.startswith("trials/"))
    assert json.loads((second.out / MANIFEST).read_text())["study"] == "second"


def test_a_study_reads_back_only_the_kept_files_it_wrote_unchanged(tmp_path: Path, first: dict[str, bytes]) -> None:
    """A deeper trial grows only from weights this study kept: never another study's trial-0, nor its own once the
    file changed (control: its own, unchanged, are read back)."""
    out = tmp_path / "out"
    assert Kept(out, "first").source(0) is not None  # control
    assert Kept(out, "second").source(0) is None
    weights = out / "trials" / "trial-0" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    assert Kept(out, "first").source(0) is None


@pytest.mark.slow
def test_workers_keeping_trials_at_once_record_each_in_the_manifest(tmp_path: Path) -> None:
    """The manifest is rewritten by every worker that keeps a trial: under the folder's lock none loses another's
    record, so every trial each worker kept is read back as the study's."""
    config = grow_config(tmp_path, study="pair", trials=4, workers=2)
    done = optimize(config)
    trained = [trial.number for trial in done.study.trials if trial.state.name == "COMPLETE"]
    assert len(trained) == 4 and all(Kept(config.out, "pair").source(number) for number in trained)


# --- a grown winner's best.toml ----------------------------------------------------------------------------------


def test_a_grown_winners_spec_says_its_accuracy_came_from_grown_weights(tmp_path: Path) -> None:
    """It retrains from random weights: its header says so and names the kept starting weights, its description
    names the trial they grew from. Control: a winner that started at random says to retrain it, as ever."""
    config = grow_config(tmp_path, study="first")
    done = optimize(config)
    found = study_results(done.study)
    for row in (r for r in found.rows if r.outcome == "complete"):
        text = " ".join(winner_files(done.study, (row,))["best.toml"].decode().replace("#", " ").split())
        if row.grown_from is not None:
            assert f"weights grown from trial {row.grown_from}'s, not random ones" in text
            assert f"trials/trial-{row.number}/grown.safetensors in the search's study folder" in text
            assert (config.out / "trials" / f"trial-{row.number}" / "grown.safetensors").is_file()
            assert f"starting from trial {row.grown_from}'s weights, grown" in text
        else:
            assert "Retrain with `archgen train best.toml`" in text and "grown" not in text
    assert any(r.grown_from is not None for r in found.rows) and any(r.grown_from is None for r in found.rows)
