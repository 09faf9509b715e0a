"""The trainer on a tiny net and in-memory batches: it learns, schedules the lr as torch would, stops on NaN
within one step, names the batch size on OOM, stops cleanly on request and resumes bitwise identically."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn

from archgen.spec.schema import Train
from archgen.train import (
    Callbacks,
    NonFiniteLoss,
    OutOfMemory,
    StopRequest,
    TrainingStopped,
    TrainState,
    build_engine,
    fit,
)

CPU = torch.device("cpu")


class Batches:
    """Two separable classes of 4x4 images, a fixed order per epoch (what a BatchLoader promises)."""

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


def engine(train: Train, loader: Batches) -> object:
    return build_engine(tiny_net(), train, device=CPU, steps_per_epoch=len(loader))


def test_fit_learns_and_reports_every_epoch() -> None:
    loader, seen = Batches(), []
    history = fit(engine(recipe(), loader), loader, Batches(16), epochs=4,  # type: ignore[arg-type]
                  callbacks=Callbacks(on_epoch=seen.append))
    assert [m.epoch for m in history] == [1, 2, 3, 4] and list(history) == seen
    assert history[-1].train_error < 0.2 and history[-1].val_error < 0.3 and history[-1].images_per_second > 0


@pytest.mark.parametrize("milestones", [(0.5, 0.75), (0.3,)])
def test_multistep_lr_matches_torch(milestones: tuple[float, ...]) -> None:
    loader = Batches()  # 6 steps per epoch, 24 in all
    train = recipe(milestones=milestones)
    built = engine(train, loader)
    ours = []
    for update in range(24):
        built.scheduler.step_update(update)  # type: ignore[attr-defined]
        ours.append(built.optimizer.param_groups[0]["lr"])  # type: ignore[attr-defined]
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
        built.scheduler.step_update(update)  # type: ignore[attr-defined]
        lrs.append(built.optimizer.param_groups[0]["lr"])  # type: ignore[attr-defined]
    assert lrs[0] == pytest.approx(0.01) and lrs[5] < 0.1 and max(lrs) == pytest.approx(0.1)
    assert lrs[6:] == sorted(lrs[6:], reverse=True) and lrs[-1] < 0.002


def test_nan_loss_stops_within_the_step_and_is_never_checkpointed() -> None:
    loader = Batches(poison=29)  # some batch of epoch 2 holds a NaN image
    saved: list[TrainState] = []
    with pytest.raises(NonFiniteLoss, match=r"became nan at epoch \d, step \d+") as error:
        fit(engine(recipe(), loader), loader, Batches(16), epochs=4,  # type: ignore[arg-type]
            callbacks=Callbacks(on_checkpoint=saved.append))
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
        fit(built, loader, Batches(16), epochs=4, callbacks=Callbacks(on_checkpoint=saved.append))
    assert saved == []


def test_out_of_memory_names_the_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = Batches()
    built = engine(recipe(), loader)

    def exhausted(*args: object) -> Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(built.model, "forward", exhausted)  # type: ignore[attr-defined]
    with pytest.raises(OutOfMemory, match=r"at batch size 8; try a smaller one, e.g. --batch-size 4"):
        fit(built, loader, Batches(16), epochs=1)  # type: ignore[arg-type]


def _weights(state_or_module: nn.Module) -> dict[str, Tensor]:
    return {name: tensor.clone() for name, tensor in state_or_module.state_dict().items()}


def test_stop_request_checkpoints_and_resume_is_bitwise_identical() -> None:
    """Stopped at epoch 2, step 4 (mid-epoch, dropout and momentum in flight), resumed in a fresh engine."""
    loader = Batches()
    uninterrupted = engine(recipe(), loader)
    torch.manual_seed(1)
    expected_history = fit(uninterrupted, loader, Batches(16), epochs=4)  # type: ignore[arg-type]

    stop, saved = StopRequest(), []

    def on_step(progress: object) -> None:
        if (progress.epoch, progress.step) == (2, 3):  # type: ignore[attr-defined]
            stop.signal_number = 15

    first = engine(recipe(), loader)
    torch.manual_seed(1)  # dropout draws from here on
    # the signal lands during step 3's report; training stops at the next step boundary
    with pytest.raises(TrainingStopped, match="stopped by SIGTERM at epoch 2, step 4 of 6"):
        fit(first, loader, Batches(16), epochs=4, stop=stop,  # type: ignore[arg-type]
            callbacks=Callbacks(on_step=on_step, on_checkpoint=saved.append))
    state = saved[-1]
    assert (state.epoch, state.step, state.updates) == (1, 4, 10)
    resumed = engine(recipe(), loader)
    torch.manual_seed(99)  # a resumed process starts elsewhere: the state restores every RNG
    history = fit(resumed, loader, Batches(16), epochs=4, resume=state)  # type: ignore[arg-type]
    assert all(torch.equal(a, b) for a, b in zip(_weights(uninterrupted.module).values(),  # type: ignore[attr-defined]
                                                  _weights(resumed.module).values(), strict=True))  # type: ignore[attr-defined]
    assert [(m.train_loss, m.train_error, m.val_error) for m in history] == [
        (m.train_loss, m.train_error, m.val_error) for m in expected_history
    ]


def test_callbacks_exceptions_propagate_unchanged() -> None:
    class Pruned(Exception):
        pass

    def prune(metrics: object) -> None:
        raise Pruned

    loader = Batches()
    with pytest.raises(Pruned):
        fit(engine(recipe(), loader), loader, Batches(16), epochs=4, callbacks=Callbacks(on_epoch=prune))  # type: ignore[arg-type]
