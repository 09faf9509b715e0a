"""Every run folder also holds TensorBoard event files (torch.utils.tensorboard's writer): per-epoch losses and
errors, the lr and images/s, equal to metrics.jsonl's, and a resumed run continues them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny import tiny_spec

from archgen.training import RunFolder, read_metrics, train, with_recipe

DATA = "synthetic:3x8x8,classes=2,train=48,val=16"


def scalars(run: Path, tag: str) -> dict[int, float]:
    """Every event file's values of `tag` by epoch (a resumed run adds a file)."""
    values = {}
    for events in sorted((run / "tensorboard").glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        values.update({event.step: event.value for event in accumulator.Scalars(tag)})
    return values


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = train(with_recipe(tiny_spec(), data=DATA, epochs=3, batch_size=8), out=tmp_path_factory.mktemp("runs"))
    assert result.run_dir is not None
    return result.run_dir


@pytest.mark.slow
def test_each_epoch_is_logged_as_metrics_jsonl_records_it(run: Path) -> None:
    metrics = read_metrics(run)
    assert scalars(run, "error/val") == pytest.approx({m.epoch: 100 * m.val_error for m in metrics})
    assert scalars(run, "loss/train") == pytest.approx({m.epoch: m.train_loss for m in metrics})
    assert scalars(run, "lr") == pytest.approx({m.epoch: m.lr for m in metrics})
    assert set(scalars(run, "images per second")) == {1, 2, 3}


@pytest.mark.slow
def test_control_another_runs_values_differ(run: Path, tmp_path: Path) -> None:
    other = train(with_recipe(tiny_spec(), data=DATA, epochs=3, batch_size=8, lr=0.5), out=tmp_path).run_dir
    assert other is not None and scalars(other, "loss/train") != pytest.approx(scalars(run, "loss/train"))


@pytest.mark.slow
def test_a_resumed_run_continues_its_event_files(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "weights.safetensors").unlink()
    newest = sorted((copy / "checkpoints").iterdir())[-1]
    shutil.rmtree(newest)  # as if killed during the last epoch: it is trained again from the epoch-2 checkpoint
    folder = RunFolder.open(copy)
    train(folder.spec(), resume=folder)
    assert len(list((copy / "tensorboard").iterdir())) == 2
    assert scalars(copy, "error/val") == pytest.approx({m.epoch: 100 * m.val_error for m in read_metrics(copy)})
