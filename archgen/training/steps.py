"""The tensor code of training: one epoch of optimiser steps and one evaluation, on any device and process count.

The host never waits for the device inside an epoch: losses and errors are summed on the device (`Meter`) and
read back only when the caller asks (a progress refresh, a checkpoint, the end of the epoch). On CPU, where a
read costs nothing, each step's loss is checked before its update, so a NaN is named at its exact step and
never reaches the weights. Knows nothing of specs, data formats or run folders.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import torch
import torch.distributed as dist
from torch import Tensor, nn

from archgen.training.engine import Engine
from archgen.training.errors import OutOfMemory
from archgen.training.meter import EpochTotals, Meter


class Batch(Protocol):
    """One batch: it unpacks as (images (B, C, H, W) float, labels (B,) int64) on the training device, made only
    then (a CUDA graph makes a batch described by indices itself, see `archgen.training.captured`)."""

    def __iter__(self) -> Iterator[Tensor]: ...


class Batches(Protocol):
    """What training reads: an epoch's batches from any step on, the same batches every time."""

    batch_size: int

    @property
    def samples(self) -> int: ...

    def __len__(self) -> int: ...

    def batches(self, epoch: int, *, start: int = 0) -> Iterator[Batch]: ...


class Step(Protocol):
    """One optimiser step on one batch, chosen once per run (`make_step`): eager, or replayed as a CUDA graph."""

    engine: Engine

    @property
    def captured(self) -> bool:
        """Whether full batches replay a captured CUDA graph (what the run's summary records)."""
        ...

    def __call__(self, batch: Batch, meter: Meter, *, number: int) -> None:
        """Forward, loss, backward and update on `batch` (the epoch's step `number`, from 1); loss and errors to
        `meter`."""
        ...


class EagerStep:
    """Every step run as Python calls it: forward, loss, backward, update."""

    captured = False

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, batch: Batch, meter: Meter, *, number: int, set_to_none: bool = True) -> None:
        """set_to_none=False keeps the gradients' tensors where they are (a captured graph's, between replays)."""
        engine = self.engine
        images, labels = batch
        with engine.autocast():
            logits = engine.model(engine.as_input(images))  # (B, classes)
            loss = engine.criterion(logits, labels)
        if meter.exact:
            meter.check(loss, number)
        engine.optimizer.zero_grad(set_to_none=set_to_none)
        loss.backward()
        engine.optimizer.step()
        meter.add(loss, (logits.argmax(1) != labels).sum(), len(labels))


def train_epoch(step: Step, loader: Batches, *, epoch: int, start: int = 0, meter: Meter) -> Iterator[int]:
    """Steps `start`… of the 0-based `epoch`, yielding the steps done after each one: between steps the caller
    may read the meter, report, checkpoint or stop. Losses and errors go to `meter`."""
    engine = step.engine
    engine.train_mode()
    for number, batch in enumerate(loader.batches(epoch, start=start), start=start + 1):
        engine.scheduler.step_update(engine.updates)  # the learning rate of this update (a function of the count)
        with out_of_memory_names(loader.batch_size * engine.world, engine):
            step(batch, meter, number=number)
        engine.updates += 1
        yield number


@torch.no_grad()
def evaluate(engine: Engine, loader: Batches) -> tuple[float, float]:
    """(mean loss, error) over the whole split, summed over every process; one wait for the device at the end.
    Batches of several crops per image, (B, K, C, H, W), are scored by the mean of the K crops' softmax outputs."""
    engine.model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=engine.device)  # loss sum, wrong
    seen = 0
    for images, labels in loader.batches(0):
        with engine.autocast():
            logits = scores(engine, images)
            loss = engine.criterion(logits.float(), labels)
        sums += torch.stack([loss.double() * len(labels), (logits.argmax(1) != labels).sum().double()])
        seen += len(labels)
    totals = torch.cat([sums, torch.tensor([float(seen)], dtype=torch.float64).to(engine.device)])
    if dist.is_initialized():
        dist.all_reduce(totals)
    loss_sum, wrong, count = totals.tolist()
    return loss_sum / max(count, 1), wrong / max(count, 1)


def scores(engine: Engine, images: Tensor) -> Tensor:
    """(B, classes) logits of (B, C, H, W) images; of (B, K, C, H, W) crops, the log of the mean of the K crops'
    softmax (the ten-crop testing of Krizhevsky et al. 2012 and He et al. 2016, Sec. 3.4), which cross-entropy and
    argmax read as they read logits: the loss is -log of the averaged probability of the label."""
    crops = images.shape[1] if images.dim() == 5 else 0
    flat = images.flatten(0, 1) if crops else images  # (B K, C, H, W)
    logits = engine.module(engine.as_input(flat))  # the plain module: no DDP buffer broadcast at eval
    if not crops:
        return logits
    return logits.float().softmax(-1).unflatten(0, (-1, crops)).mean(1).log()  # (B, classes)


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
    """Whether every floating-point parameter and buffer is finite (checked before any checkpoint; one wait)."""
    checks = [torch.isfinite(t).all() for t in module.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack(checks).all()) if checks else True


@contextlib.contextmanager
def out_of_memory_names(batch_size: int, engine: Engine) -> Iterator[None]:
    try:
        yield
    except torch.OutOfMemoryError:
        smaller = max(1, batch_size // 2)
        shared = f" (the {engine.device} is shared: {engine.others_memory()} used by other processes)" \
            if engine.others_memory() else ""
        raise OutOfMemory(
            f"out of {engine.device.type} memory at batch size {batch_size}{shared}; try a smaller one, e.g. "
            f"--batch-size {smaller}", batch_size=batch_size,
        ) from None
