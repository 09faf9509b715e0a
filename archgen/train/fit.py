"""The epoch loop: train, evaluate, report, checkpoint; resume from a state; stop cleanly on request.

Holds no tensor code (that is `loop`); decides when to checkpoint, never where (the caller's callback).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from archgen.train.engine import Engine
from archgen.train.errors import NonFiniteLoss, TrainingStopped
from archgen.train.loop import Batches, any_process, evaluate, reduce_totals, train_epoch, weights_finite
from archgen.train.metrics import EpochMetrics, EpochTotals, StepProgress
from archgen.train.signals import StopRequest
from archgen.train.state import TrainState, capture, restore

OnEpoch = Callable[[EpochMetrics], None]
OnStep = Callable[[StepProgress], None]
OnCheckpoint = Callable[[TrainState], None]


@dataclass(frozen=True)
class Callbacks:
    """What the caller hears: every epoch, every step (progress), and states to save (None: nothing is saved)."""

    on_epoch: OnEpoch | None = None
    on_step: OnStep | None = None
    on_checkpoint: OnCheckpoint | None = None
    checkpoint_seconds: float | None = None
    """Also checkpoint mid-epoch once this long has passed since the last checkpoint (single process only)."""


def fit(
    engine: Engine,
    train: Batches,
    val: Batches,
    *,
    epochs: int,
    resume: TrainState | None = None,
    callbacks: Callbacks = Callbacks(),
    stop: StopRequest | None = None,
) -> tuple[EpochMetrics, ...]:
    """Train to `epochs`, from the start or from `resume`; returns every epoch's metrics (resumed ones included).

    Raises NonFiniteLoss, OutOfMemory, or TrainingStopped (after a last checkpoint) when `stop` is requested.
    Exceptions raised by callbacks (e.g. a search pruning the trial) propagate unchanged.
    """
    history: tuple[EpochMetrics, ...] = ()
    start_epoch, start_step, totals = 0, 0, EpochTotals()
    if resume is not None:
        restore(engine, resume)
        history, start_epoch, start_step = resume.history, resume.epoch, resume.step
        if engine.rank == 0:  # saved totals are already summed over processes
            totals = EpochTotals(**vars(resume.totals))
    checkpointer = _Checkpointer(engine, callbacks)
    for epoch in range(start_epoch, epochs):
        hook = _StepHook(engine, train, epoch, totals, history, callbacks, checkpointer, stop)
        totals = reduce_totals(
            train_epoch(engine, train, epoch=epoch, start=start_step, totals=totals, after_step=hook), engine.device
        )
        evaluation_began = time.perf_counter()
        val_loss, val_error = evaluate(engine, val)
        metrics = EpochMetrics(
            epoch=epoch + 1, train_loss=totals.loss, train_error=totals.error, val_loss=val_loss, val_error=val_error,
            lr=engine.optimizer.param_groups[0]["lr"], images_per_second=totals.seen / max(totals.seconds, 1e-9),
            seconds=totals.seconds + time.perf_counter() - evaluation_began, images=round(totals.seen),
        )
        history, start_step, totals = (*history, metrics), 0, EpochTotals()
        checkpointer.save(epoch=epoch + 1, step=0, totals=totals, history=history)
        if callbacks.on_epoch is not None:
            callbacks.on_epoch(metrics)
    return history


class _Checkpointer:
    def __init__(self, engine: Engine, callbacks: Callbacks) -> None:
        self.engine, self.callbacks = engine, callbacks
        self.last = time.monotonic()

    def due(self) -> bool:
        seconds = self.callbacks.checkpoint_seconds
        return seconds is not None and self.engine.world == 1 and time.monotonic() - self.last >= seconds

    def save(self, *, epoch: int, step: int, totals: EpochTotals, history: tuple[EpochMetrics, ...]) -> None:
        if self.callbacks.on_checkpoint is None or self.engine.rank != 0:
            return
        if not weights_finite(self.engine.module):  # epoch: epochs done (step 0) or the 0-based epoch in progress
            number, where = (epoch, f"after epoch {epoch}") if step == 0 else (epoch + 1, f"at epoch {epoch + 1}, "
                                                                                          f"step {step}")
            raise NonFiniteLoss(f"the weights became NaN or Inf {where}: training stopped without checkpointing them "
                                "(lower the learning rate or check the data)", epoch=number, step=step)
        self.callbacks.on_checkpoint(capture(self.engine, epoch=epoch, step=step, totals=totals, history=history))
        self.last = time.monotonic()


class _StepHook:
    """After each step: a stop request (every process agrees), a time-due checkpoint, progress."""

    def __init__(
        self, engine: Engine, loader: Batches, epoch: int, totals: EpochTotals, history: tuple[EpochMetrics, ...],
        callbacks: Callbacks, checkpointer: _Checkpointer, stop: StopRequest | None,
    ) -> None:
        self.engine, self.loader, self.epoch, self.totals, self.history = engine, loader, epoch, totals, history
        self.callbacks, self.checkpointer, self.stop = callbacks, checkpointer, stop
        self.began, self.seen_before = time.perf_counter(), totals.seen

    def __call__(self, done: int, sync: Callable[[], EpochTotals]) -> None:
        stopping = any_process(self.stop is not None and self.stop.requested, self.engine.device)
        if stopping or self.checkpointer.due():
            exact = sync()
            saved = reduce_totals(EpochTotals(**vars(exact)), self.engine.device) if self.engine.world > 1 else exact
            self.checkpointer.save(epoch=self.epoch, step=done, totals=saved, history=self.history)
        if stopping:
            number = self.stop.signal_number if self.stop is not None else None
            by = self.stop.name if self.stop is not None and number else "another process"
            where = f"epoch {self.epoch + 1}, step {done} of {len(self.loader)}"
            raise TrainingStopped(f"stopped by {by} at {where}", signal_number=number or 0)
        if self.callbacks.on_step is not None and self.engine.rank == 0:
            seen = (self.totals.seen - self.seen_before) * self.engine.world  # read back one step late on GPUs
            self.callbacks.on_step(StepProgress(
                epoch=self.epoch + 1, step=done, steps=len(self.loader), loss=self.totals.loss,
                error=self.totals.error, images_per_second=seen / (time.perf_counter() - self.began),
            ))
