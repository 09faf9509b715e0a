"""The tensor code of training: one epoch of optimiser steps, and evaluation, on any device and process count.

Losses are read back one step late on accelerators (the GPU never waits for the host) and at once
on CPU, so a NaN stops training within one step. Knows nothing of specs, data formats or run folders.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import torch
import torch.distributed as dist
from torch import Tensor, nn

from archgen.train.engine import Engine
from archgen.train.errors import NonFiniteLoss, OutOfMemory
from archgen.train.metrics import EpochTotals


class Batches(Protocol):
    """What training reads: an epoch's batches from any step on, the same batches every time."""

    batch_size: int

    @property
    def samples(self) -> int: ...

    def __len__(self) -> int: ...

    def batches(self, epoch: int, *, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]: ...


AfterStep = Callable[[int, Callable[[], EpochTotals]], None]


class _Readback:
    """Reads each step's (loss, wrong) back to the host, one step late on accelerators, at once on CPU."""

    def __init__(self, totals: EpochTotals, epoch: int, *, lag: bool) -> None:
        self.totals, self.epoch, self.lag = totals, epoch, lag
        self.pending: tuple[int, int, Tensor] | None = None

    def push(self, step: int, count: int, values: Tensor) -> None:
        if self.lag:
            self.flush()
        self.pending = (step, count, values)
        if not self.lag:
            self.flush()

    def flush(self) -> EpochTotals:
        if self.pending is not None:
            step, count, values = self.pending
            self.pending = None
            loss, wrong = values.tolist()
            if not math.isfinite(loss):
                raise NonFiniteLoss(
                    f"the training loss became {loss} at epoch {self.epoch + 1}, step {step + 1}: training stopped and "
                    "no checkpoint was written after it (lower the learning rate or check the data)",
                    epoch=self.epoch + 1, step=step + 1,
                )
            self.totals.loss_sum += loss * count
            self.totals.wrong += wrong
            self.totals.seen += count
        return self.totals


def train_epoch(
    engine: Engine,
    loader: Batches,
    *,
    epoch: int,
    start: int = 0,
    totals: EpochTotals | None = None,
    after_step: AfterStep | None = None,
) -> EpochTotals:
    """Steps `start`… of epoch `epoch` (0-based). `after_step(steps_done, sync)` may checkpoint or raise to stop;
    `sync()` makes the totals exact up to that step (time spent after it is not counted as training)."""
    totals = totals if totals is not None else EpochTotals()
    readback = _Readback(totals, epoch, lag=engine.device.type != "cpu")
    clock = _Clock(totals)

    def sync() -> EpochTotals:
        readback.flush()
        _synchronize(engine.device)
        clock.stop()
        return totals

    engine.model.train()
    for step, (images, labels) in enumerate(loader.batches(epoch, start=start), start=start):
        # 1. the learning rate of this update (a function of the update count)
        engine.scheduler.step_update(engine.updates)
        # 2. forward, loss, backward, update; OOM names the batch size
        with _out_of_memory_names(loader.batch_size * engine.world, engine.device):
            values = _step(engine, images, labels, readback, step)
        engine.updates += 1
        if values is not None:
            readback.push(step, len(labels), values)
        # 3. let the caller report, checkpoint or stop between steps
        if after_step is not None:
            after_step(step + 1, sync)
        clock.restart()
    return sync()


class _Clock:
    """Training time into `totals.seconds`; stopped while the caller checkpoints or reports."""

    def __init__(self, totals: EpochTotals) -> None:
        self.totals, self.began = totals, time.perf_counter()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.totals.seconds += time.perf_counter() - self.began
            self.running = False

    def restart(self) -> None:
        if not self.running:
            self.began, self.running = time.perf_counter(), True


def _step(engine: Engine, images: Tensor, labels: Tensor, readback: _Readback, step: int) -> Tensor | None:
    """One update; returns (loss, wrong) still to be read back, or None when already read (CPU)."""
    images, labels = engine.prepare(images, labels)
    with engine.autocast():
        logits = engine.model(images)  # (B, classes)
        loss = engine.criterion(logits, labels)
    values = torch.stack([loss.detach().float(), (logits.argmax(1) != labels).sum().float()])
    pending: Tensor | None = values
    if not readback.lag:  # on CPU: check before the update, so the weights stay finite
        readback.push(step, len(labels), values)
        pending = None
    engine.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    engine.optimizer.step()
    return pending


@torch.no_grad()
def evaluate(engine: Engine, loader: Batches) -> tuple[float, float]:
    """(mean loss, error) over the whole split, summed over every process."""
    engine.model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=engine.device)  # loss sum, wrong, seen
    for images, labels in loader.batches(0):
        images, labels = engine.prepare(images, labels)
        with engine.autocast():
            logits = engine.module(images)  # the plain module: no DDP buffer broadcast at eval
            loss = engine.criterion(logits.float(), labels)
        sums += torch.stack([loss.double() * len(labels), (logits.argmax(1) != labels).sum().double(),
                             torch.tensor(len(labels), dtype=torch.float64, device=engine.device)])
    if dist.is_initialized():
        dist.all_reduce(sums)
    loss_sum, wrong, seen = sums.tolist()
    return loss_sum / max(seen, 1), wrong / max(seen, 1)


def reduce_totals(totals: EpochTotals, device: torch.device) -> EpochTotals:
    """The epoch's totals summed over every process (time: the slowest process's)."""
    if not dist.is_initialized():
        return totals
    sums = torch.tensor([totals.loss_sum, totals.wrong, totals.seen], dtype=torch.float64, device=device)
    seconds = torch.tensor([totals.seconds], dtype=torch.float64, device=device)
    dist.all_reduce(sums)
    dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
    loss_sum, wrong, seen = sums.tolist()
    return EpochTotals(loss_sum, wrong, seen, seconds.item())


def any_process(flag: bool, device: torch.device) -> bool:
    """Whether `flag` is set in any process (so that every process stops at the same step)."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def weights_finite(module: nn.Module) -> bool:
    """Whether every floating-point parameter and buffer is finite (checked before any checkpoint)."""
    return all(bool(torch.isfinite(t).all()) for t in module.state_dict().values() if t.is_floating_point())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _out_of_memory_names(batch_size: int, device: torch.device) -> Iterator[None]:
    try:
        yield
    except torch.OutOfMemoryError:
        smaller = max(1, batch_size // 2)
        raise OutOfMemory(
            f"out of {device.type} memory at batch size {batch_size}; try a smaller one, e.g. --batch-size {smaller}",
            batch_size=batch_size,
        ) from None
