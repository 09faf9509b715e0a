"""The GPU path's promises, checked on CPU with stand-ins: the host reads the device back at most every half second
of wall time, the run's device is the current one before anything is allocated, and a finished run frees its step
(and with it a captured graph's memory) as soon as `train` returns."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from tiny import tiny_spec

import archgen.training.loop as loop
import archgen.training.trainer as trainer
from archgen.spec.schema import Train
from archgen.training import Listener, StepProgress, build_engine, train, with_recipe
from archgen.training.captured import CapturedStep
from archgen.training.engine import Engine
from archgen.training.meter import EpochTotals, Meter
from archgen.training.steps import EagerStep

STEPS, SECONDS_A_STEP = 200, 0.125  # 25 s of (pretended) training per epoch; exact in binary
DATA = f"synthetic:1x4x4,classes=2,train={STEPS * 4},val=8"


class Time:
    """A clock that moves SECONDS_A_STEP with every training step, however fast the machine is."""

    now = 0.0


class DeviceLikeMeter(Meter):
    """A meter that behaves as on a GPU (reads are not free, so the trainer must not read after every step) and
    counts its reads; each step it counts moves the clock."""

    reads: ClassVar[list[int]] = []

    def __init__(self, device: torch.device) -> None:
        super().__init__(device)
        self.exact = False

    def count(self, images: int) -> None:
        super().count(images)
        Time.now += SECONDS_A_STEP

    def read(self, step: int) -> EpochTotals:
        DeviceLikeMeter.reads[-1] += 1
        return super().read(step)

    def begin(self, epoch: int, totals: EpochTotals, *, step: int) -> None:
        DeviceLikeMeter.reads.append(0)
        super().begin(epoch, totals, step=step)


class Progress(Listener):
    def __init__(self) -> None:
        self.heard: list[StepProgress] = []

    def on_progress(self, progress: StepProgress) -> None:
        self.heard.append(progress)


def _reads_per_epoch(monkeypatch: pytest.MonkeyPatch, refresh: float) -> tuple[list[int], Progress]:
    monkeypatch.setattr(trainer, "Meter", DeviceLikeMeter)
    monkeypatch.setattr(loop, "clock", lambda: Time.now)
    monkeypatch.setattr(loop, "REFRESH_SECONDS", refresh)
    DeviceLikeMeter.reads = []
    heard = Progress()
    train(with_recipe(tiny_spec(), data=DATA, epochs=2, batch_size=4), listener=heard)
    return DeviceLikeMeter.reads, heard


@pytest.mark.slow
def test_the_device_is_read_at_most_every_half_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """25 s of steps an epoch: progress refreshed every 0.5 s is 50 reads, plus the epoch's own at its end (the old
    rule timed from the epoch's start, not the last refresh, and read after nearly every step: 196 of 200)."""
    reads, heard = _reads_per_epoch(monkeypatch, loop.REFRESH_SECONDS)
    due = STEPS * SECONDS_A_STEP / loop.REFRESH_SECONDS  # refreshes due in an epoch
    assert all(due - 1 <= count <= due + 1 for count in reads), reads
    assert len(heard.heard) >= 2 * (due - 1)  # progress still heard all along
    # control: refreshing at every step, the same count shows every read
    every, _ = _reads_per_epoch(monkeypatch, 0.0)
    assert all(count == STEPS + 1 for count in every), every


def test_the_run_s_device_is_made_current_before_anything_is_allocated(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run on cuda:1 (by --device, a search worker's placement or torchrun's LOCAL_RANK) makes cuda:1 the current
    device first: CUDA graphs capture on the current device's streams (pytorch#87794). CUDA mocked: the set device is
    the chosen one, and nothing (no data, no network) came before it."""
    events: list[str] = []

    class Set(Exception):
        pass

    def set_device(device: torch.device) -> None:
        events.append(f"set {device}")
        raise Set  # stop there: nothing else may have run before

    monkeypatch.setattr(trainer, "select_device", lambda name, local_rank=0: torch.device(name))
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    def set_up(*args: object, **kwargs: object) -> None:
        events.append("set up")
        raise Set

    monkeypatch.setattr(trainer, "set_up", set_up)
    for name in ("cuda:1", "cuda:0"):
        with pytest.raises(Set):
            train(with_recipe(tiny_spec(), data=DATA), device=name)
    assert events == ["set cuda:1", "set cuda:0"]
    # control: the stand-ins see the order: on the CPU there is no current device to set, and setting up comes first
    with pytest.raises(Set):
        train(with_recipe(tiny_spec(), data=DATA), device="cpu")
    assert events[-1] == "set up"


@pytest.mark.slow
def test_a_finished_run_releases_its_step_and_engine(tmp_path: Path) -> None:
    """Nothing refers back from the engine to the step (no cycle): with the cycle collector off, the step, its
    engine and every tensor they hold are freed when `train` returns, not whenever the collector next runs (a
    captured graph's pool is GPU memory the next search trial needs)."""
    gc.collect()
    gc.disable()
    try:
        train(with_recipe(tiny_spec(), data=DATA, epochs=1), out=tmp_path)
        alive = [thing for thing in gc.get_objects() if type(thing) in (EagerStep, CapturedStep, Engine)]
    finally:
        gc.enable()
    assert not alive
    # control: the check sees a step that something still holds
    kept = EagerStep(build_engine(torch.nn.Linear(2, 2), Train(), device="cpu", steps_per_epoch=1))
    assert any(thing is kept for thing in gc.get_objects())
