"""`archgen train SPEC --seeds 0-4`: one run folder per seed, each bitwise the run `--seed K` trains (CPU); bad seeds
and contradicting options are one located line, exit 2, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from in_process import archgen_here
from tiny import tiny_toml

from archgen.cli.train import seed_list
from archgen.spec import read_spec


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_toml())
    return path


def runs_by_seed(folder: Path) -> dict[int, Path]:
    return {read_spec(run / "spec.toml").train.seed: run for run in folder.iterdir()}


@pytest.mark.slow
def test_each_seed_is_its_own_run_bitwise_the_one_its_seed_trains(tiny: Path, tmp_path: Path) -> None:
    result = archgen_here("train", str(tiny), "--seeds", "0-1", "--out", str(tmp_path / "seeds"), "--device", "cpu",
                          "--json")
    assert result.code == 0, result.stderr
    documents = json.loads(result.stdout)  # one JSON document: the list of the seeds' runs
    assert [Path(document["run"]).parent for document in documents] == [tmp_path / "seeds"] * 2
    seeds = runs_by_seed(tmp_path / "seeds")
    assert sorted(seeds) == [0, 1]
    alone = archgen_here("train", str(tiny), "--seed", "1", "--out", str(tmp_path / "one"), "--device", "cpu")
    assert alone.code == 0, alone.stderr
    [single] = runs_by_seed(tmp_path / "one").values()
    assert (seeds[1] / "weights.safetensors").read_bytes() == (single / "weights.safetensors").read_bytes()
    # control: the two seeds of --seeds are two different trainings
    assert (seeds[0] / "weights.safetensors").read_bytes() != (seeds[1] / "weights.safetensors").read_bytes()


@pytest.mark.parametrize(("text", "expected"), [("0-4", [0, 1, 2, 3, 4]), ("3", [3]), ("0,3,7", [0, 3, 7]),
                                                ("5-5", [5])])
def test_seeds_are_a_range_or_a_list(text: str, expected: list[int]) -> None:
    assert seed_list(text) == expected


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "3-1"], "the range 3-1 runs downwards; write 1-3"),
    (["--seeds", "a-b"], "a range like 0-4 or a list like 0,3,7 of seeds (integers >= 0), got 'a-b'"),
    (["--seeds", "1,1"], "lists a seed twice: 1,1"),
    (["--seeds", "0-5000"], "5,001 seeds is more than 1000 runs; name fewer"),
    (["--seeds", "0-2", "--seed", "4"], "--seeds names every seed the runs train from; give it or --seed, not both"),
    (["--seeds", "0-2", "--set", "train.seed=4"], "give it or --seed, not both"),
])
def test_bad_seeds_are_one_line_and_nothing_is_written(tiny: Path, tmp_path: Path, args: list[str],
                                                       message: str) -> None:
    result = archgen_here("train", str(tiny), *args, "--out", str(tmp_path / "runs"))
    assert result.code == 2 and message in result.stderr, result.stderr
    assert "--seeds" in result.stderr and not (tmp_path / "runs").exists()


def test_seeds_with_resume_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    result = archgen_here("train", "--resume", str(tmp_path / "run"), "--seeds", "0-2")
    assert result.code == 2 and "--resume continues one run from its own seed; --seeds trains new runs" in \
        result.stderr, result.stderr
