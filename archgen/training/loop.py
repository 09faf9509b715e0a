"""The epochs of a run: train, evaluate, report, checkpoint; a stop request (SIGINT, SIGTERM) turned into a
checkpointed stop at a step boundary, agreed by every process.

The host reads the device back (progress, the meter) only when it must: at most every REFRESH_SECONDS of wall time
for progress on an accelerator, at a checkpoint, and at the end of each epoch. On CPU a read costs nothing, so
progress is read after every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from archgen.training.engine import Engine
from archgen.training.errors import NonFiniteLoss, TrainingStopped
from archgen.training.events import EpochMetrics, Listener, StepProgress
from archgen.training.folder import RunFolder
from archgen.training.meter import EpochTotals, Meter
from archgen.training.resume import Start
from archgen.training.setup import Setup
from archgen.training.signals import StopRequest
from archgen.training.state import capture
from archgen.training.steps import any_process, evaluate, reduce_totals, train_epoch, weights_finite

REFRESH_SECONDS = 0.5  # on accelerators, progress is read back from the device at most this often
AGREE_EVERY = 25  # steps between the processes' agreement on a stop request (a collective: not every step)
clock: Callable[[], float] = time.perf_counter  # the refresh's clock (a test counts reads against a clock of its own)


def run_epochs(setup: Setup, start: Start, *, listener: Listener, stop: StopRequest | None, meter: Meter,
               checkpoint_seconds: float | None) -> tuple[EpochMetrics, ...]:
    """Every epoch from where `start` stands to the recipe's last; the history of all of them. The listener (the main
    process's) hears progress and each epoch; a checkpoint is written after each epoch and, on long epochs, at least
    every `checkpoint_seconds` (one process only) and before a requested stop."""
    engine, loaders, folder = setup.engine, setup.loaders, start.folder
    history, step, totals = start.history, start.step, start.totals
    steps, main = len(loaders.train), setup.processes.main
    checkpointed = time.monotonic()
    for epoch in range(start.epoch, setup.spec.train.epochs):
        meter.begin(epoch, totals, step=step)
        lap = refreshed = clock()
        for done in train_epoch(setup.step, loaders.train, epoch=epoch, start=step, meter=meter):
            stopping = stop is not None and _agreed(stop.requested, engine, done)
            due = checkpoint_seconds is not None and engine.world == 1 and \
                time.monotonic() - checkpointed >= checkpoint_seconds
            if stopping or due:  # a checkpoint mid-epoch, its totals exact up to this step
                meter.read(done).seconds += clock() - lap
                _checkpoint(folder, engine, epoch=epoch, step=done, history=history,
                            totals=reduce_totals(meter.totals, engine.device))
                checkpointed, lap = time.monotonic(), clock()
            if stopping:
                assert stop is not None
                raise TrainingStopped(f"stopped by {stop.name or 'another process'} at epoch {epoch + 1}, step "
                                      f"{done} of {steps}", signal_number=stop.signal_number or 0)
            if main and (meter.exact or clock() - refreshed >= REFRESH_SECONDS):
                listener.on_progress(_progress(meter, done, steps, engine.world))  # one wait for the device
                refreshed = clock()
        meter.read(steps).seconds += clock() - lap
        metrics = _evaluated(engine, setup, epoch, reduce_totals(meter.totals, engine.device))
        history, step, totals = (*history, metrics), 0, EpochTotals()
        _checkpoint(folder, engine, epoch=epoch + 1, step=0, totals=totals, history=history)
        checkpointed = time.monotonic()
        if main:
            listener.on_epoch(metrics)
    return history


def _evaluated(engine: Engine, setup: Setup, epoch: int, totals: EpochTotals) -> EpochMetrics:
    """The finished epoch's metrics: its training totals and an evaluation on the validation split."""
    began = clock()
    val_loss, val_error = evaluate(engine, setup.loaders.val)
    return EpochMetrics(
        epoch=epoch + 1, train_loss=totals.loss, train_error=totals.error, val_loss=val_loss, val_error=val_error,
        lr=engine.optimizer.param_groups[0]["lr"], images_per_second=totals.seen / max(totals.seconds, 1e-9),
        seconds=totals.seconds + clock() - began, images=round(totals.seen),
    )


def _agreed(requested: bool, engine: Engine, done: int) -> bool:
    """A stop request every process acts on at the same step (on GPUs, agreed every AGREE_EVERY steps)."""
    if engine.world == 1:
        return requested
    if engine.device.type != "cpu" and done % AGREE_EVERY:
        return False
    return any_process(requested, engine.device)


def _progress(meter: Meter, done: int, steps: int, world: int) -> StepProgress:
    totals = meter.read(done)
    return StepProgress(epoch=meter.epoch + 1, step=done, steps=steps, loss=totals.loss, error=totals.error,
                        images_per_second=meter.images_per_second() * world)


def _checkpoint(folder: RunFolder | None, engine: Engine, *, epoch: int, step: int, totals: EpochTotals,
                history: tuple[EpochMetrics, ...]) -> None:
    """Save where the run stands (rank 0 of a run with a folder), never with non-finite weights."""
    if folder is None or engine.rank != 0:
        return
    if not weights_finite(engine.module):  # epoch: epochs done (step 0) or the 0-based epoch in progress
        number, where = (epoch, f"after epoch {epoch}") if step == 0 else (epoch + 1, f"at epoch {epoch + 1}, "
                                                                                      f"step {step}")
        raise NonFiniteLoss(f"the weights became NaN or Inf {where}: training stopped without checkpointing them "
                            "(lower the learning rate or check the data)", epoch=number, step=step)
    folder.save_checkpoint(capture(engine, epoch=epoch, step=step, totals=totals, history=history))
    folder.write_metrics(history)
