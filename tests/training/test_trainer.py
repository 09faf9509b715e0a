"""`train`: fits the spec to the data, trains, and (with `out`) writes a run folder that retrains as is; the
listener hears every epoch and may stop training; a stop request checkpoints and the resume is bitwise."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from tiny import tiny_spec

import archgen
from archgen.errors import DataError, SpecError
from archgen.training import (
    EpochMetrics,
    Listener,
    NonFiniteLoss,
    RunFolder,
    RunPlan,
    StepProgress,
    TrainingStopped,
    load_latest,
    read_metrics,
    train,
)
from archgen.training import with_recipe as recipe


class Heard(Listener):
    """Records what the trainer says; `stop_at` (epoch, step) sends this process a SIGTERM there."""

    def __init__(self, stop_at: tuple[int, int] | None = None) -> None:
        self.plans: list[RunPlan] = []
        self.epochs: list[EpochMetrics] = []
        self.stop_at = stop_at

    def on_start(self, plan: RunPlan) -> None:
        self.plans.append(plan)

    def on_progress(self, progress: StepProgress) -> None:
        if (progress.epoch, progress.step) == self.stop_at:
            os.kill(os.getpid(), signal.SIGTERM)  # handled as a request: training stops at the next step boundary

    def on_epoch(self, metrics: EpochMetrics) -> None:
        self.epochs.append(metrics)


def train_spec(spec: Any, *, out: Path | None = None, listener: Listener | None = None, **overrides: Any) -> Any:
    return train(recipe(spec, **overrides), out=out, listener=listener)


@pytest.mark.slow
def test_search_style_call_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    heard = Heard()
    result = train_spec(tiny_spec(), data="synthetic:3x8x8,classes=4,train=256,val=64", epochs=3, batch_size=32,
                        listener=heard)
    seen = heard.epochs
    assert result.run_dir is None and list(tmp_path.iterdir()) == []
    assert len(result.history) == 3 and list(result.history) == seen
    assert result.final_val_error < 0.5  # 4 classes: chance is 75% error
    assert result.params == archgen.analyze(result.spec).params and result.spec.input.classes == 4


@pytest.mark.slow
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


@pytest.mark.slow
def test_images_are_resized_when_the_strides_need_it() -> None:
    spec = archgen.parse_spec({
        "name": "small-imagenet", "input": {"channels": 3, "size": 32, "classes": 10},
        "stem": {"kind": "imagenet", "width": 4},
        "body": {"block": "basic", "depths": [1, 1, 1, 1], "width": 4}, "train": {"epochs": 1, "batch_size": 256},
    })
    heard = Heard()
    result = train_spec(spec, listener=heard)
    notes = heard.plans[0].notes
    assert result.spec.input.size == 32 and result.spec.input.channels == 1
    assert any("resizing digits's 8x8 images to the spec's 32x32" in note for note in notes)


@pytest.mark.slow
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
    assert recipe(spec).train.data == f"imagefolder:{tmp_path}/data/cifar"
    assert recipe(spec, data="cifar10:x").train.data == f"cifar10:{tmp_path}/x"
    assert recipe(spec, data="synthetic").train.data == "synthetic:3x32x32,classes=10,train=1024,val=256"


# --- the epoch loop (moved from the old train.fit tests) ---------------------------------------------------------

TWO_CLASSES = "synthetic:3x8x8,classes=2,train=48,val=16"  # 6 steps of 8 per epoch


@pytest.mark.slow
def test_learns_and_reports_every_epoch() -> None:
    heard = Heard()
    history = train_spec(tiny_spec(), data=TWO_CLASSES, epochs=4, batch_size=8, listener=heard).history
    assert [m.epoch for m in history] == [1, 2, 3, 4] and list(history) == heard.epochs
    assert history[-1].train_error < 0.2 and history[-1].val_error < 0.3 and history[-1].images_per_second > 0


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "weights.safetensors")


@pytest.mark.slow
def test_stop_request_checkpoints_and_resume_is_bitwise_identical(tmp_path: Path) -> None:
    """Stopped at epoch 2, step 4 (mid-epoch, momentum in flight) by SIGTERM, resumed from its run folder."""
    uninterrupted = train_spec(tiny_spec(), data=TWO_CLASSES, epochs=4, batch_size=8, out=tmp_path / "a")
    assert uninterrupted.run_dir is not None
    # the signal lands during step 3's report; training stops at the next step boundary
    with pytest.raises(TrainingStopped, match="stopped by SIGTERM at epoch 2, step 4 of 6"):
        train_spec(tiny_spec(), data=TWO_CLASSES, epochs=4, batch_size=8, out=tmp_path / "b",
                   listener=Heard(stop_at=(2, 3)))
    (run,) = (tmp_path / "b").iterdir()
    state = load_latest(run / "checkpoints").state
    assert state is not None and (state.epoch, state.step, state.updates) == (1, 4, 10)
    torch.manual_seed(99)  # a resumed process starts elsewhere: the state restores every RNG
    folder = RunFolder.open(run)
    history = train(folder.spec(), resume=folder).history
    expected, resumed = _weights(uninterrupted.run_dir), _weights(run)
    assert all(torch.equal(expected[name], resumed[name]) for name in expected)
    assert [(m.train_loss, m.train_error, m.val_error) for m in history] == [
        (m.train_loss, m.train_error, m.val_error) for m in uninterrupted.history
    ]


@pytest.mark.slow
def test_listener_exceptions_propagate_unchanged() -> None:
    class Pruned(Exception):
        pass

    class Pruning(Listener):
        def on_epoch(self, metrics: EpochMetrics) -> None:
            raise Pruned

    with pytest.raises(Pruned):
        train_spec(tiny_spec(), data=TWO_CLASSES, epochs=4, batch_size=8, listener=Pruning())
