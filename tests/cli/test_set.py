"""`--set KEY=VALUE` on train, build, search and validate: values read as TOML, checked with the spec's own messages
naming the `--set`, recorded in the run's spec.toml; the aliases (--epochs, --lr, ...) are the same thing; each bad
input is one line and a non-zero exit."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from in_process import archgen_here
from tiny import write_tiny_spec


@pytest.mark.parametrize(("args", "line"), [
    (["--set", "train.lr=-1"], "--set train.lr=-1: train.lr: must be greater than 0, got -1.0"),
    (["--lr", "-1"], "--lr -1.0: train.lr: must be greater than 0, got -1.0"),
    (["--set", "train.lr"], "--set train.lr: expected KEY=VALUE"),
    (["--set", "=3"], "--set =3: the key must be a field path"),
    (["--set", "train.weight_decy=5e-4"],
     "--set train.weight_decy=5e-4: train.weight_decy: unknown key 'weight_decy'; did you mean 'weight_decay'?"),
    (["--set", "trian.lr=0.1"], "--set trian.lr=0.1: trian: unknown key 'trian'; did you mean 'train'?"),
    (["--set", "train.epochs=three"], "--set train.epochs=three: train.epochs: must be an integer, got string 'three'"),
    (["--set", "body.width=0"], "--set body.width=0: body.width: must be greater than"),
    (["--set", "body.depths.7=2"], "--set body.depths.7=2: body.depths has 3 entries, so index 7 does not exist"),
    (["--set", "train.lr.peak=1"], "--set train.lr.peak=1: train.lr is a single value, it has no field 'peak'"),
    (["--set", "search.trials=3"],
     "--set search.trials=3: archgen train does not use the [search] table (archgen search does)"),
    (["--data", "mnist"], "error: --data 'mnist': unknown data source"),
])
def test_a_bad_set_is_one_line_naming_it(tmp_path: Path, args: list[str], line: str) -> None:
    outcome = archgen_here("train", *args, "--out", str(tmp_path))
    assert outcome.code == 1 and outcome.stdout == ""
    assert outcome.stderr.startswith(line) and len(outcome.stderr.splitlines()) == 1, outcome.stderr
    assert list(tmp_path.iterdir()) == []  # refused before a run folder was made


def test_the_same_key_twice_the_last_wins_said_once() -> None:
    outcome = archgen_here("build", "digits-resnet20", "--json", "--set", "input.size=16", "--blocks",
                           "--set", "input.size=32")
    assert outcome.code == 0, outcome.stderr
    assert json.loads(outcome.stdout)["input_shape"][1:] == [32, 32]
    assert outcome.stderr.count("note: input.size is given 2 times") == 1
    assert "the last one is used" in outcome.stderr


def test_build_shows_the_network_the_sets_make() -> None:
    outcome = archgen_here("build", "digits-resnet20", "--json", "--set", "body.depths=[1,1,1]",
                           "--set", "body.width=32")
    report = json.loads(outcome.stdout)
    assert outcome.code == 0 and [stage["depth"] for stage in report["stages"]] == [1, 1, 1]
    assert report["stages"][0]["width"] == 32  # depth (20 layers) no longer describes it: dropped, not refused


def test_a_value_that_is_not_toml_is_a_string() -> None:
    outcome = archgen_here("build", "resnet18", "--set", "body.block=bottleneck")
    assert outcome.code == 0, outcome.stderr
    assert "· bottleneck ·" in outcome.stdout.splitlines()[0]


def test_validate_checks_every_spec_with_the_sets_naming_them(tmp_path: Path) -> None:
    spec = write_tiny_spec(tmp_path / "tiny.toml")
    outcome = archgen_here("validate", str(spec), "--set", "train.warmup_epochs=-2")
    assert outcome.code == 1
    assert f"{spec}:1: --set train.warmup_epochs=-2: train.warmup_epochs: must be greater than or equal to 0" \
        in outcome.stdout
    assert archgen_here("validate", str(spec), "--set", "train.warmup_epochs=2").code == 0  # control


@pytest.mark.slow
def test_the_sets_are_recorded_in_the_run_and_retrain_as_is(tmp_path: Path) -> None:
    spec = write_tiny_spec(tmp_path / "tiny.toml")
    outcome = archgen_here("train", str(spec), "--data", "synthetic:3x8x8,classes=3,train=32,val=8", "--epochs", "1",
                           "--set", "train.weight_decay=5e-4", "--set", "input.size=8",
                           "--set", "train.warmup_epochs=0",
                           "--out", str(tmp_path / "runs"), "--json")
    assert outcome.code == 0, outcome.stderr
    run = Path(json.loads(outcome.stdout)["run"])
    recorded = tomllib.loads((run / "spec.toml").read_text())
    assert recorded["train"]["weight_decay"] == 5e-4 and recorded["train"]["epochs"] == 1
    assert recorded["input"]["size"] == 8


@pytest.mark.slow
def test_a_refusal_that_says_what_to_change_gives_the_set_line_and_it_trains(tmp_path: Path) -> None:
    data = "synthetic:3x64x64,classes=4,train=16,val=8"  # resnet18 fine-tuned on small images: the case
    refused = archgen_here("train", "resnet18", "--data", data, "--epochs", "1", "--out", str(tmp_path))
    assert refused.code == 1 and "; to train on them at 64x64: --set " in refused.stderr, refused.stderr
    sets = refused.stderr.split("; to train on them at 64x64: ")[1].split()
    assert sets == ["--set", "input.size=64", "--set", "train.augment=random-resized-crop",
                    "--set", "train.eval_resize=64"]
    trained = archgen_here("train", "resnet18", "--data", data, "--epochs", "1", "--batch-size", "16", *sets,
                           "--out", str(tmp_path), "--json")
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["epochs"] == 1
