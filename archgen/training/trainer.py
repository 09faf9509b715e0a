"""Training a spec, read straight down: set up (the spec fitted to its data, the loaders, the network and its step),
start or resume (the run folder), the epochs (train, evaluate, report, checkpoint), the summary. The CLI and the
search call `train` alike; what a caller hears is a `Listener`.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from archgen.devices import deterministic, select_device
from archgen.errors import ArchgenError
from archgen.spec.schema import CompileMode, NetSpec
from archgen.training.errors import TrainingStopped
from archgen.training.events import Listener, Listeners, RunPlan, TrainResult
from archgen.training.folder import RunFolder
from archgen.training.loop import run_epochs
from archgen.training.meter import Meter
from archgen.training.processes import joined, processes_from_env
from archgen.training.resume import Start, start_or_resume
from archgen.training.setup import Setup, set_up
from archgen.training.signals import StopRequest, stop_on_signals
from archgen.training.summary import summarise
from archgen.training.tensorboard import EVENTS, TensorBoard

CHECKPOINT_SECONDS = 300.0  # a mid-epoch checkpoint at least this often on long epochs


def train(
    spec: NetSpec,
    *,
    out: Path | None = None,
    resume: RunFolder | None = None,
    device: str = "auto",
    compile: bool | CompileMode | None = None,
    listener: Listener | None = None,
    checkpoint_seconds: float | None = CHECKPOINT_SECONDS,
    auto_batch: bool = False,
) -> TrainResult:
    """Train `spec` on the data its recipe names (`with_recipe` applies a run's overrides).

    out: create a run folder `out/<name>-<time>/` and write it as training goes; resume: continue this run
    folder (whose spec.toml `spec` is) from its newest good checkpoint; neither: write nothing (search trials).
    The listener hears the plan, progress and every epoch, and may raise anything (a pruned trial) to stop.
    auto_batch: train at the largest power-of-two batch whose estimated memory fits on the device, not the recipe's.
    A batch that cannot fit is refused before the first step (InsufficientMemory).
    Raises NonFiniteLoss, OutOfMemory, TrainingStopped, DataError, SpecError, RunError (all ArchgenError).
    """
    listener, processes = listener or Listener(), processes_from_env()
    where = select_device(device, local_rank=processes.local_rank)
    heard = listener if processes.main else Listener()  # only the main process reports
    with joined(processes, where), _reproducible(where, spec.train.seed):
        # 1. set up: the spec fitted to its data, the loaders, the network with its optimiser and step
        setup = set_up(spec, where, processes, compile=compile, auto_batch=auto_batch, fresh=resume is None,
                       on_note=heard.on_note)
        # 2. start or resume: the run folder, and where training stands in it
        start = start_or_resume(setup, out=out, resume=resume)
        plan = _plan(setup, start)
        heard.on_start(plan)
        began, status = time.time(), "failed"
        with _holding(start.folder), _stop_requests(out is not None or resume is not None) as stop, \
                _events(start.folder, plan, heard) as told:
            try:
                # 3. the epochs: train, evaluate, report, checkpoint
                history = run_epochs(setup, start, listener=told, stop=stop, meter=Meter(where),
                                     checkpoint_seconds=checkpoint_seconds)
                status = "finished"
            except TrainingStopped as stopped:
                status = "stopped"
                raise _resume_hint(stopped, start.folder) from None
            except BaseException as error:
                status = _status(error)
                raise
            finally:
                # 4. the summary: what the run was, and its final weights when it finished
                summarise(start.folder, setup, status=status, seconds=time.time() - began)
        heard.on_trained(setup.engine.module)
        return TrainResult(setup.spec, history, setup.cost.params, setup.cost.macs, _path(start.folder))


def _plan(setup: Setup, start: Start) -> RunPlan:
    data, spec = setup.fitted.data, setup.spec
    return RunPlan(
        spec=spec, data=data.source, train_images=len(data.train), val_images=len(data.val),
        image_shape=(data.channels, data.size, data.size), classes=data.classes, device=str(setup.engine.device),
        world=setup.engine.world, batch_size=spec.train.batch_size, steps_per_epoch=len(setup.loaders.train),
        params=setup.cost.params, macs=setup.cost.macs, run_dir=_path(start.folder), start_epoch=start.epoch,
        start_step=start.step, notes=setup.fitted.notes + setup.notes + start.notes,
    )


def _path(folder: RunFolder | None) -> Path | None:
    return folder.path if folder is not None else None


def _status(error: BaseException) -> str:
    """What summary.json says of a run that failed by `error` (a listener's exception, a pruned trial, stops it)."""
    return f"failed: {error}" if isinstance(error, ArchgenError) else f"stopped: {type(error).__name__}"


def _resume_hint(stopped: TrainingStopped, folder: RunFolder | None) -> TrainingStopped:
    """A stop of a run with a folder says how to continue it."""
    if folder is None:
        return stopped
    return TrainingStopped(f"{stopped}; checkpoint saved, continue with: archgen train --resume {folder.path}",
                           signal_number=stopped.signal_number)


# --- around the whole run ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _reproducible(device: torch.device, seed: int) -> Iterator[None]:
    """Seed every RNG; on CPU, deterministic algorithms (bitwise-identical resumes)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    with deterministic(device):
        yield


@contextlib.contextmanager
def _holding(folder: RunFolder | None) -> Iterator[None]:
    """One process at a time trains in a run folder."""
    with folder if folder is not None else contextlib.nullcontext():
        yield


@contextlib.contextmanager
def _stop_requests(enabled: bool) -> Iterator[StopRequest | None]:
    """SIGINT and SIGTERM as a request to stop at the next step (after a checkpoint), for runs that keep one."""
    with stop_on_signals() if enabled else contextlib.nullcontext() as request:
        yield request


@contextlib.contextmanager
def _events(folder: RunFolder | None, plan: RunPlan, listener: Listener) -> Iterator[Listener]:
    """The caller's listener, and TensorBoard's event files in a run folder (opened once the folder is held, so a
    resume of a run another process trains is refused with the folder untouched)."""
    if folder is None:
        yield listener
        return
    with TensorBoard(folder.path / EVENTS) as board:
        board.on_start(plan)
        yield Listeners(board, listener)
