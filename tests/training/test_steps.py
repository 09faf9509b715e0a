"""The tensor code of training on a tiny net and in-memory batches: an epoch of steps learns, the lr follows the
schedule as torch's would, a NaN stops training within its step, out of memory names the batch size, and the
step as captured for a CUDA graph (static buffers) computes bitwise what the eager step computes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn

from archgen.data import load_data, make_loaders
from archgen.spec.schema import Train
from archgen.training import (
    Engine,
    EpochTotals,
    Meter,
    NonFiniteLoss,
    OutOfMemory,
    TrainState,
    build_engine,
    capture,
    train_epoch,
)
from archgen.training.captured import CapturedStep
from archgen.training.steps import EagerStep, Step, evaluate, weights_finite

CPU = torch.device("cpu")


class Batches:
    """Two separable classes of 4x4 images, a fixed order per epoch (what a `Loader` promises)."""

    def __init__(self, count: int = 48, batch_size: int = 8, *, poison: int | None = None) -> None:
        generator = torch.Generator().manual_seed(0)
        self.labels = torch.randint(0, 2, (count,), generator=generator)
        self.images = torch.randn(count, 1, 4, 4, generator=generator) + 2 * self.labels.view(-1, 1, 1, 1).float()
        if poison is not None:
            self.images[poison] = float("nan")
        self.batch_size = batch_size

    @property
    def samples(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        return -(-self.samples // self.batch_size)

    def batches(self, epoch: int, *, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.randperm(self.samples, generator=torch.Generator().manual_seed(epoch))
        for first in range(start * self.batch_size, self.samples, self.batch_size):
            index = order[first : first + self.batch_size]
            yield self.images[index], self.labels[index]


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.1), nn.Linear(4, 2))


def recipe(**changes: object) -> Train:
    return Train(**{"epochs": 4, "batch_size": 8, "lr": 0.1, **changes})  # type: ignore[arg-type]


def engine(train: Train, loader: Batches) -> Engine:
    return build_engine(tiny_net(), train, device=CPU, steps_per_epoch=len(loader))


def epochs(built: Engine, loader: Batches, count: int, saved: list[TrainState] | None = None) -> Meter:
    """`count` epochs of steps, a state captured after each when the weights are finite (as the trainer
    checkpoints); the meter holds the last epoch's totals."""
    meter = Meter(built.device)
    for epoch in range(count):
        meter.begin(epoch, EpochTotals(), step=0)
        for _ in train_epoch(EagerStep(built), loader, epoch=epoch, meter=meter):  # type: ignore[arg-type]
            pass
        meter.read(len(loader))
        if saved is not None and weights_finite(built.module):
            saved.append(capture(built, epoch=epoch + 1, step=0, totals=meter.totals, history=()))
    return meter


def test_an_epoch_of_steps_learns() -> None:
    loader = Batches()
    built = engine(recipe(), loader)
    meter = epochs(built, loader, 4)
    val_loss, val_error = evaluate(built, Batches(16))  # type: ignore[arg-type]
    assert meter.totals.seen == 48 and meter.totals.error < 0.2 and val_error < 0.3 and val_loss < 1


@pytest.mark.parametrize("milestones", [(0.5, 0.75), (0.3,)])
def test_multistep_lr_matches_torch(milestones: tuple[float, ...]) -> None:
    loader = Batches()  # 6 steps per epoch, 24 in all
    train = recipe(milestones=milestones)
    built = engine(train, loader)
    ours = []
    for update in range(24):
        built.scheduler.step_update(update)
        ours.append(built.optimizer.param_groups[0]["lr"])
    optimizer = torch.optim.SGD(tiny_net().parameters(), lr=0.1)
    reference = torch.optim.lr_scheduler.MultiStepLR(optimizer, [round(m * 24) for m in milestones], gamma=0.1)
    theirs = []
    for _ in range(24):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert ours == pytest.approx(theirs)


def test_cosine_with_warm_up_rises_then_decays_to_zero() -> None:
    loader = Batches()
    built = engine(recipe(schedule="cosine", warmup_epochs=1, warmup_lr=0.01), loader)
    lrs = []
    for update in range(24):
        built.scheduler.step_update(update)
        lrs.append(built.optimizer.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.01) and lrs[5] < 0.1 and max(lrs) == pytest.approx(0.1)
    assert lrs[6:] == sorted(lrs[6:], reverse=True) and lrs[-1] < 0.002


def test_nan_loss_stops_within_the_step_and_is_never_checkpointed() -> None:
    loader = Batches(poison=29)  # some batch of epoch 2 holds a NaN image
    saved: list[TrainState] = []
    with pytest.raises(NonFiniteLoss, match=r"became nan at epoch \d, step \d+") as error:
        epochs(engine(recipe(), loader), loader, 4, saved)
    order = list(loader.batches(error.value.epoch - 1))
    poisoned = [torch.isnan(images).any().item() for images, _ in order]
    assert poisoned.index(True) + 1 == error.value.step  # the very step whose batch was poisoned
    assert all(torch.isfinite(t).all() for state in saved for t in state.weights.values() if t.is_floating_point())


def test_huge_lr_stops_with_a_non_finite_loss() -> None:
    loader, saved = Batches(), []
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                           nn.Linear(64, 2))  # no BN to absorb the blow-up
    built = build_engine(linear, recipe(lr=100.0), device=CPU, steps_per_epoch=len(loader))
    with pytest.raises(NonFiniteLoss, match=r"training loss became (nan|inf) at epoch \d+, step \d+"):
        epochs(built, loader, 4, saved)
    assert saved == []


def test_out_of_memory_names_the_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = Batches()
    built = engine(recipe(), loader)

    def exhausted(*args: object) -> Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(built.model, "forward", exhausted)
    with pytest.raises(OutOfMemory, match=r"at batch size 8; try a smaller one, e.g. --batch-size 4"):
        epochs(built, loader, 1)


def _two_epochs(optimizer: str, *, graphed: bool, lr: float = 0.1) -> tuple[dict[str, Tensor], dict, dict]:
    """Two epochs of the synthetic data (7 steps of 16, the last one short) eagerly or on static buffers."""
    data = load_data("synthetic:3x8x8,classes=4,train=100,val=8", size=8)
    loader = make_loaders(data, batch_size=16, augment=True, seed=0, device="cpu").train
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    built = build_engine(model, recipe(optimizer=optimizer, warmup_epochs=1, lr=lr), device=CPU,
                         steps_per_epoch=len(loader))
    step: Step = EagerStep(built)
    if graphed:  # what a CUDA graph captures, run here without capture
        step = CapturedStep(built, loader.materialize, loader.batch_size, capture=False)
    torch.manual_seed(1)  # dropout draws from here on
    meter = Meter(CPU)
    for epoch in range(2):
        meter.begin(epoch, EpochTotals(), step=0)
        for _ in train_epoch(step, loader, epoch=epoch, meter=meter):
            pass
        meter.read(len(loader))
    return built.module.state_dict(), built.optimizer.state_dict()["state"], vars(meter.totals)


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adamw"])
def test_the_step_on_static_buffers_is_the_eager_step_bitwise(optimizer: str) -> None:
    """What a CUDA graph captures (the static-buffer step) computes exactly what the eager step does: the same
    weights, optimiser state and metered loss after two epochs whose schedule warms up and whose tail is short."""
    eager_weights, eager_state, eager_totals = _two_epochs(optimizer, graphed=False)
    graph_weights, graph_state, graph_totals = _two_epochs(optimizer, graphed=True)
    assert all(torch.equal(eager_weights[name], graph_weights[name]) for name in eager_weights)
    assert all(torch.equal(a, b) for key in eager_state for a, b in
               zip(eager_state[key].values(), graph_state[key].values(), strict=True))
    assert eager_totals == graph_totals and eager_totals["seen"] == 100


def test_control_another_lr_on_static_buffers_shows() -> None:
    """The comparison above can fail: the static-buffer step reads the schedule's lr, and another lr differs."""
    weights, _, _ = _two_epochs("sgd", graphed=True)
    other, _, _ = _two_epochs("sgd", graphed=True, lr=0.2)
    assert not torch.equal(weights["6.weight"], other["6.weight"])


def test_a_step_that_cannot_be_captured_falls_back_to_eager_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture raising (as an op that syncs would, mid-run) leaves the run going, eagerly, with the reason."""
    import contextlib

    import archgen.training.captured as graphs

    @contextlib.contextmanager
    def refusing(graph: object) -> Iterator[None]:
        raise RuntimeError("operation not permitted when stream is capturing\nmore")
        yield

    monkeypatch.setattr(torch.cuda, "graph", refusing)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: object())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    data = load_data("synthetic:3x8x8,classes=4,train=64,val=8", size=8)
    loader = make_loaders(data, batch_size=16, augment=True, seed=0, device="cpu").train
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 4))
    built = build_engine(model, recipe(), device=CPU, steps_per_epoch=len(loader))
    notes: list[str] = []
    step = CapturedStep(built, loader.materialize, loader.batch_size, capture=True, on_note=notes.append)
    step.warm = graphs.WARMUP_STEPS  # the warm-up (a CUDA side stream) is behind it
    assert step.fallback is None and step.captured  # control: nothing to report before the capture
    before = model[3].weight.clone()
    meter = Meter(CPU)
    meter.begin(0, EpochTotals(), step=0)
    for _ in train_epoch(step, loader, epoch=0, meter=meter):
        pass
    assert step.fallback == "RuntimeError: operation not permitted when stream is capturing"
    assert not step.captured  # the run's summary says its steps ran eagerly
    assert notes == ["each step runs eagerly from now on: its CUDA graph could not be captured (RuntimeError: "
                     "operation not permitted when stream is capturing)"]  # told once, not every step
    assert meter.read(len(loader)).seen == 64 and not torch.equal(before, model[3].weight)  # every step trained
