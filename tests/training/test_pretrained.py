"""Fine-tuning from a weights file (`train.init`, `--init`): archgen's own safetensors or a torchvision state dict,
a new classifier for another number of classes (said in the plan's notes), refusals naming the first tensor
that does not fit, frozen stages that keep their weights, and a backbone learning at a fraction of lr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import load_file
from tiny import tiny_spec

import archgen
from archgen.compile import build_model
from archgen.errors import RunError
from archgen.training import Listener, RunPlan, train, with_recipe
from archgen.training.pretrained import read_initial

DATA = "synthetic:3x8x8,classes=4,train=64,val=16"


class Notes(Listener):
    def __init__(self) -> None:
        self.notes: tuple[str, ...] = ()

    def on_start(self, plan: RunPlan) -> None:
        self.notes = plan.notes


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = train(with_recipe(tiny_spec(), data=DATA, epochs=1, batch_size=16), out=tmp_path_factory.mktemp("r"))
    assert result.run_dir is not None
    return result.run_dir / "weights.safetensors"


@pytest.mark.slow
def test_a_run_starts_from_the_files_weights_and_records_them(trained: Path, tmp_path: Path) -> None:
    heard = Notes()
    result = train(with_recipe(tiny_spec(), data=DATA, epochs=1, batch_size=16, init=str(trained), lr=1e-9),
                   out=tmp_path, listener=heard)
    assert result.run_dir is not None
    record = json.loads((result.run_dir / "init.json").read_text())
    assert record["path"] == str(trained) and len(record["sha256"]) == 64 and record["skipped"] == []
    assert any(note.startswith(f"starting from {trained}") for note in heard.notes)
    start, end = load_file(trained), load_file(result.run_dir / "weights.safetensors")
    assert torch.allclose(start["stem.conv.weight"], end["stem.conv.weight"], atol=1e-6)  # lr ~0: it started there


@pytest.mark.slow
def test_control_without_init_the_weights_start_elsewhere(trained: Path, tmp_path: Path) -> None:
    result = train(with_recipe(tiny_spec(), data=DATA, epochs=1, batch_size=16, lr=1e-9, seed=7), out=tmp_path)
    assert result.run_dir is not None
    start, end = load_file(trained), load_file(result.run_dir / "weights.safetensors")
    assert not torch.allclose(start["stem.conv.weight"], end["stem.conv.weight"], atol=1e-3)


def test_torchvision_weights_with_another_classifier(tmp_path: Path) -> None:
    weights = tmp_path / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), weights)  # 1,000 classes
    spec = archgen.load_spec("resnet18")
    model = build_model(spec.model_copy(update={"input": spec.input.model_copy(update={"classes": 10})}))
    initial = read_initial(weights, model)
    assert initial.skipped == ("head.fc.bias (1000 classes in the file, 10 here: a new classifier)",
                               "head.fc.weight (1000 classes in the file, 10 here: a new classifier)")
    expected = torch.load(weights, weights_only=True)
    assert torch.equal(initial.tensors["stages.1.0.shortcut.conv.weight"], expected["layer2.0.downsample.0.weight"])


@pytest.mark.parametrize(("source", "target", "message"), [
    ("resnet50", "resnet18", "does not fit the network: stages.0.0.branch.conv1.weight is (64, 64, 1, 1) in the "
                             "file, (64, 64, 3, 3) in the network"),
    ("resnet34", "resnet18", "does not fit the network: the network has no stages.0.2.branch.bn1.bias (64,)"),
])
def test_weights_of_another_architecture_name_the_first_misfit(
    tmp_path: Path, source: str, target: str, message: str
) -> None:
    weights = tmp_path / f"{source}.safetensors"
    from safetensors.torch import save_file

    save_file(build_model(archgen.load_spec(source)).state_dict(), weights)
    with pytest.raises(RunError) as refused:
        read_initial(weights, build_model(archgen.load_spec(target)))
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.slow
def test_frozen_stages_keep_their_weights_and_statistics(trained: Path, tmp_path: Path) -> None:
    spec = tiny_spec().model_copy(update={"train": tiny_spec().train.model_copy(update={"frozen_stages": 2})})
    result = train(with_recipe(spec, data=DATA, epochs=1, batch_size=16, init=str(trained)), out=tmp_path)
    assert result.run_dir is not None
    start, end = load_file(trained), load_file(result.run_dir / "weights.safetensors")
    for name in ("stem.conv.weight", "stem.bn.running_mean", "stages.0.0.branch.conv1.weight"):
        assert torch.equal(start[name], end[name]), name
    assert not torch.equal(start["stages.1.0.branch.conv1.weight"], end["stages.1.0.branch.conv1.weight"])


def test_the_backbone_learns_at_a_fraction_of_lr() -> None:
    from archgen.training import build_engine

    recipe = tiny_spec().train.model_copy(update={"backbone_lr": 0.1, "lr": 0.2})
    model = build_model(tiny_spec())
    engine = build_engine(model, recipe, device="cpu", steps_per_epoch=4, scaled=[model.stem, *model.stages])
    backbone, head = engine.optimizer.param_groups
    assert backbone["lr"] == pytest.approx(0.02) and head["lr"] == pytest.approx(0.2)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
