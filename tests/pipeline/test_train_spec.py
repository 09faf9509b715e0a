"""`train_spec`: fits the spec to the data, trains, and (with `out`) writes a run folder that retrains as is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny import tiny_spec

import archgen
from archgen.errors import DataError, SpecError
from archgen.pipeline import NonFiniteLoss, train_spec, with_recipe
from archgen.runs import read_metrics


def test_search_style_call_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    seen = []
    result = train_spec(tiny_spec(), data="synthetic:3x8x8,classes=4,train=256,val=64", epochs=3, batch_size=32,
                        on_epoch=seen.append)
    assert result.run_dir is None and list(tmp_path.iterdir()) == []
    assert len(result.history) == 3 and list(result.history) == seen
    assert result.final_val_error < 0.5  # 4 classes: chance is 75% error
    assert result.params == archgen.analyze(result.spec).params and result.spec.input.classes == 4


def test_run_folder_retrains_as_is(tmp_path: Path) -> None:
    result = train_spec(tiny_spec(), data="digits", out=tmp_path, seed=3)
    assert result.run_dir is not None and result.run_dir.parent == tmp_path
    assert result.run_dir.name.startswith("tiny-")
    spec = archgen.load_spec(result.run_dir / "spec.toml")
    assert spec == result.spec and spec.train.seed == 3 and spec.train.data == "digits"
    assert (spec.input.channels, spec.input.size, spec.input.classes) == (1, 8, 10)
    assert [m.epoch for m in read_metrics(result.run_dir)] == [1, 2]
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_done"] == 2 and summary["updates"] == 2 * 23
    model = archgen.build_model(spec)
    model.load_state_dict(load_file(result.run_dir / "weights.safetensors"))  # strict: every key, every shape
    again = train_spec(spec, out=tmp_path)  # the run folder's spec, nothing else: the same weights
    assert (again.run_dir / "weights.safetensors").read_bytes() == (result.run_dir / "weights.safetensors").read_bytes()


def test_overrides_are_validated_as_the_spec_file_is() -> None:
    with pytest.raises(SpecError, match=r"train\.epochs: must be greater than or equal to 1"):
        train_spec(tiny_spec(), epochs=0)
    with pytest.raises(DataError, match="unknown data source"):
        train_spec(tiny_spec(), data="mnist")


def test_images_are_resized_when_the_strides_need_it() -> None:
    spec = archgen.parse_spec({
        "name": "small-imagenet", "input": {"channels": 3, "size": 32, "classes": 10},
        "stem": {"kind": "imagenet", "width": 4},
        "body": {"block": "basic", "depths": [1, 1, 1, 1], "width": 4}, "train": {"epochs": 1, "batch_size": 256},
    })
    notes = []
    result = train_spec(spec, on_start=lambda plan: notes.extend(plan.notes))
    assert result.spec.input.size == 32 and result.spec.input.channels == 1
    assert any("resizing digits's 8x8 images to the spec's 32x32" in note for note in notes)


def test_nan_recipe_stops_and_leaves_only_finite_checkpoints(tmp_path: Path) -> None:
    spec = archgen.parse_spec({
        "name": "nan", "input": {"channels": 3, "size": 32, "classes": 10}, "stem": {"kind": "cifar", "width": 4},
        "body": {"block": "basic", "depths": [1], "width": 4},
        "train": {"epochs": 3, "batch_size": 32, "weight_decay": 1.0},
    })  # lr 100 x weight decay 1: each step multiplies the weights by -99
    with pytest.raises(NonFiniteLoss, match=r"at epoch \d+, step \d+") as error:
        train_spec(spec, data="synthetic:1x8x8,classes=2,train=512,val=16", lr=100.0, out=tmp_path)
    run = next(tmp_path.iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"].startswith("failed: the training loss became") and str(error.value) in summary["status"]
    for weights in run.glob("checkpoints/*/weights.safetensors"):
        assert all(torch.isfinite(t).all() for t in load_file(weights).values() if t.is_floating_point())


def test_folder_sources_are_recorded_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tiny_spec(data="imagefolder:data/cifar")  # as a spec file may say, relative to where one runs
    assert with_recipe(spec).train.data == f"imagefolder:{tmp_path}/data/cifar"
    assert with_recipe(spec, data="cifar10:x").train.data == f"cifar10:{tmp_path}/x"
    assert with_recipe(spec, data="synthetic").train.data == "synthetic:3x32x32,classes=10,train=1024,val=256"
