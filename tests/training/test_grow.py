"""`archgen grow`: a deeper net grown from a trained shallower one computes exactly its outputs (copied blocks,
identity blocks added), is written as a resumable run folder, and is refused where no identity exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tiny import tiny_spec

import archgen.training.grow as grow_module
from archgen.errors import RunError
from archgen.training import RunFolder, load_latest, train, with_recipe
from archgen.training.grow import grow

DATA = "synthetic:3x8x8,classes=4,train=96,val=32"


def deeper(**body: Any) -> Any:
    spec = tiny_spec()
    return spec.model_copy(update={"name": "tiny-deeper", "body": spec.body.model_copy(
        update={"depths": (2, 1, 3), **body})})


@pytest.fixture(scope="module")
def shallow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = train(with_recipe(tiny_spec(), data=DATA, epochs=2, batch_size=16), out=tmp_path_factory.mktemp("runs"))
    assert result.run_dir is not None
    return result.run_dir


@pytest.mark.slow
def test_the_grown_net_computes_the_trained_nets_outputs(shallow: Path, tmp_path: Path) -> None:
    grown = grow(shallow, with_recipe(deeper(), epochs=3, batch_size=16), out=tmp_path)
    assert (grown.copied, grown.added, grown.images) == (3, 3, 96)
    assert grown.max_difference <= 1e-6
    origin = json.loads((grown.folder / "grown.json").read_text())
    assert origin["from"] == str(shallow.resolve()) and origin["blocks_added"] == 3
    state = load_latest(grown.folder / "checkpoints").state
    assert state is not None and (state.epoch, state.step, state.updates) == (0, 0, 0)


@pytest.mark.slow
def test_a_grown_run_trains_on_with_resume(shallow: Path, tmp_path: Path) -> None:
    grown = grow(shallow, with_recipe(deeper(), epochs=2, batch_size=16), out=tmp_path)
    folder = RunFolder.open(grown.folder)
    result = train(folder.spec(), resume=folder)
    assert [m.epoch for m in result.history] == [1, 2] and (grown.folder / "weights.safetensors").is_file()
    fresh = train(with_recipe(deeper(), data=DATA, epochs=2, batch_size=16), out=tmp_path / "fresh")
    assert [m.lr for m in result.history] == [m.lr for m in fresh.history]  # the recipe's schedule, step for step


@pytest.mark.slow
def test_control_a_skipped_copy_changes_the_outputs_and_nothing_is_written(
    shallow: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = grow_module._grown

    def skipping(spec: Any, trained: Any, small: Any) -> Any:
        model, copied, added = real(spec, trained, small)
        model.state_dict()["stages.1.0.branch.conv1.weight"].normal_()  # one copied layer not copied after all
        return model, copied, added

    monkeypatch.setattr(grow_module, "_grown", skipping)
    with pytest.raises(RunError, match=r"computes other outputs than it .*: nothing written"):
        grow(shallow, deeper(), out=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("change", "reason"), [
    ({"residual": False}, "a plain net has no identity to start its extra blocks at"),
    ({"width": 8}, "the stages' widths or strides differ"),
    ({"depths": (1, 1, 1)}, "it is not deeper: blocks per stage [1, 1, 1] -> [1, 1, 1]"),
    ({"depths": (2, 1)}, "the stages' widths or strides differ"),
    ({"block": "bottleneck"}, "the blocks differ in more than depth"),
])
@pytest.mark.slow
def test_nets_that_cannot_grow_are_refused_in_one_line(
    shallow: Path, tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RunError) as refused:
        grow(shallow, deeper(**change), out=tmp_path)
    assert str(refused.value).startswith(f"cannot grow {shallow} (tiny) into tiny-deeper: ")
    assert reason in str(refused.value) and "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_another_stem_is_refused(shallow: Path, tmp_path: Path) -> None:
    spec = deeper()
    other = spec.model_copy(update={"stem": spec.stem.model_copy(update={"kind": "deep"})})
    with pytest.raises(RunError, match="the stems differ"):
        grow(shallow, other, out=tmp_path)


@pytest.mark.slow
def test_projections_in_every_block_are_refused(tmp_path: Path) -> None:
    """Option C: an added block's shortcut is a projection, so a zero branch leaves no identity."""
    spec = tiny_spec().model_copy(update={"body": tiny_spec().body.model_copy(update={"shortcut": "C"})})
    run = train(with_recipe(spec, data=DATA, epochs=1, batch_size=32), out=tmp_path / "runs").run_dir
    assert run is not None
    taller = spec.model_copy(update={"name": "tiny-deeper", "body": spec.body.model_copy(update={"depths": (2, 1, 1)})})
    with pytest.raises(RunError, match=r"every block's shortcut is a projection \(option C\)"):
        grow(run, taller, out=tmp_path / "grown")
