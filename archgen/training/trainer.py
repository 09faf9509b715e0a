"""Training a spec, read straight down: the spec fitted to its data, the build, the loaders, resume or start, the
epoch loop (train, evaluate, report, checkpoint) and the summary. The CLI and the search call `train` alike.

The tensor code is `archgen.training`'s; run folders are `archgen.training`'; what a caller hears is a `Listener`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import save as save_safetensors

from archgen.analysis import analyze
from archgen.compile import Network, build_model
from archgen.data import BatchLoader, Loaders, load_data, make_loaders
from archgen.devices import select_device
from archgen.errors import ArchgenError, Problem, RunError, SpecError
from archgen.spec.schema import RANDOM_INIT, CompileMode, NetSpec
from archgen.training.batch_memory import check_memory, with_largest_batch
from archgen.training.captured import GraphedStep, graph_obstacle
from archgen.training.engine import Engine, build_engine, compile_mode
from archgen.training.errors import NonFiniteLoss, TrainingStopped
from archgen.training.events import EpochMetrics, Listener, RunPlan, StepProgress, TrainResult
from archgen.training.fitting import Fitted, fit_to_data
from archgen.training.folder import RunFolder
from archgen.training.meter import EpochTotals, Meter
from archgen.training.pretrained import INIT, Initial, read_initial
from archgen.training.processes import Processes, processes_from_env, start_processes, stop_processes
from archgen.training.record import DATA
from archgen.training.resume import check_fits, check_same_data, check_unedited
from archgen.training.signals import stop_on_signals
from archgen.training.state import TrainState, capture, restore
from archgen.training.steps import any_process, evaluate, reduce_totals, train_epoch, weights_finite
from archgen.training.tensorboard import EVENTS, TensorBoard

VERSION = importlib.metadata.version("archgen")
CHECKPOINT_SECONDS = 300.0  # a mid-epoch checkpoint at least this often on long epochs
REFRESH_SECONDS = 0.5  # on accelerators, progress is read back from the device at most this often
AGREE_EVERY = 25  # steps between the processes' agreement on a stop request (a collective: not every step)


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
    listener, recipe, processes = listener or Listener(), spec.train, processes_from_env()
    where = select_device(device, local_rank=processes.local_rank)
    start_processes(processes, where)
    try:
        with _reproducible(where, recipe.seed):
            # 1. the spec fitted to its data: channels, classes (and the size, if the strides need it) follow it
            fitted = fit_to_data(spec, load_data(recipe.data, size=spec.input.size, seed=recipe.seed))
            if auto_batch:  # the largest power-of-two batch the device holds, by the memory estimate
                fitted = with_largest_batch(fitted, where, world=processes.world)
            spec, recipe = fitted.spec, fitted.spec.train
            # 2. the loaders: this process's shard, normalised by the training split's statistics
            loaders = make_loaders(fitted.data, batch_size=_per_process(recipe.batch_size, processes),
                                   augment=recipe, seed=recipe.seed, device=where, rank=processes.rank,
                                   world=processes.world)
            # 3. the build: the network on its device with its optimiser, schedule, and maybe one CUDA graph a step
            engine, initial, notes = _engine(spec, loaders, where, processes, compile, fresh=resume is None)
            check_memory(spec, engine, loaders.train)  # a batch that cannot fit is refused before anything is written
            # 4. resume or start: the run folder, and the state training continues from
            folder, state, resumed = _resume_or_start(fitted, out=out, resume=resume, engine=engine,
                                                      processes=processes)
            if folder is not None and initial is not None:
                folder.write_json(INIT, initial.record())  # where the weights came from, with their sha256
            plan = _plan(fitted, loaders, engine, folder, state, notes + resumed)
            if processes.main:
                listener.on_start(plan)
            history, first_epoch, step, totals = _starting_point(engine, state)
            meter, checkpointed = Meter(engine.device), time.monotonic()
            began, status = time.time(), "failed"
            with _holding(folder), _stop_requests(out is not None or resume is not None) as stop:
                # TensorBoard's files once the folder is ours: a resume another process holds is refused untouched
                board = TensorBoard(folder.path / EVENTS) if folder is not None else None  # rank 0, with a folder
                if board is not None:
                    board.on_start(plan)
                try:
                    # 5. the epochs: train, evaluate, report, checkpoint
                    for epoch in range(first_epoch, recipe.epochs):
                        meter.begin(epoch, totals, step=step)
                        lap = time.perf_counter()
                        for done in train_epoch(engine, loaders.train, epoch=epoch, start=step, meter=meter):
                            stopping = stop is not None and _agreed(stop.requested, engine, done)
                            due = checkpoint_seconds is not None and processes.world == 1 and \
                                time.monotonic() - checkpointed >= checkpoint_seconds
                            if stopping or due:  # a checkpoint mid-epoch, its totals exact up to this step
                                meter.read(done).seconds += time.perf_counter() - lap
                                _checkpoint(folder, engine, epoch=epoch, step=done, history=history,
                                            totals=reduce_totals(meter.totals, engine.device))
                                checkpointed, lap = time.monotonic(), time.perf_counter()
                            if stopping:
                                assert stop is not None
                                raise TrainingStopped(f"stopped by {stop.name or 'another process'} at epoch "
                                                      f"{epoch + 1}, step {done} of {len(loaders.train)}",
                                                      signal_number=stop.signal_number or 0)
                            if engine.graphed is not None and engine.graphed.fallback is not None:
                                listener.on_note(f"each step runs eagerly from now on: its CUDA graph could not be "
                                                 f"captured ({engine.graphed.fallback})")
                                engine.graphed = None  # its buffers stay the graph's; the eager step needs none
                            if processes.main and (meter.exact or time.perf_counter() - lap >= REFRESH_SECONDS):
                                listener.on_progress(_progress(meter, done, len(loaders.train), engine.world))
                        meter.read(len(loaders.train)).seconds += time.perf_counter() - lap
                        totals = reduce_totals(meter.totals, engine.device)
                        evaluation_began = time.perf_counter()
                        val_loss, val_error = evaluate(engine, loaders.val)
                        metrics = EpochMetrics(
                            epoch=epoch + 1, train_loss=totals.loss, train_error=totals.error, val_loss=val_loss,
                            val_error=val_error, lr=engine.optimizer.param_groups[0]["lr"],
                            images_per_second=totals.seen / max(totals.seconds, 1e-9),
                            seconds=totals.seconds + time.perf_counter() - evaluation_began, images=round(totals.seen),
                        )
                        history, step, totals = (*history, metrics), 0, EpochTotals()
                        _checkpoint(folder, engine, epoch=epoch + 1, step=0, totals=totals, history=history)
                        checkpointed = time.monotonic()
                        if board is not None:
                            board.on_epoch(metrics)
                        if processes.main:
                            listener.on_epoch(metrics)
                    status = "finished"
                except TrainingStopped as stopped:
                    status = "stopped"
                    if folder is None:
                        raise
                    raise TrainingStopped(f"{stopped}; checkpoint saved, continue with: archgen train --resume "
                                          f"{folder.path}", signal_number=stopped.signal_number) from None
                except BaseException as error:
                    status = f"failed: {error}" if isinstance(error, ArchgenError) else \
                        f"stopped: {type(error).__name__}"
                    raise
                finally:
                    # 6. the summary: final weights (when finished) and what the run was
                    _summarise(folder, fitted, engine, loaders, status=status, seconds=time.time() - began)
                    if board is not None:
                        board.writer.close()
            if processes.main:
                listener.on_trained(engine.module)
            cost = analyze(spec)
            return TrainResult(spec, history, cost.params, cost.macs, folder.path if folder else None)
    finally:
        stop_processes()


# --- 2. and 3.: loaders and build ------------------------------------------------------------------------------


def _per_process(batch_size: int, processes: Processes) -> int:
    if batch_size % processes.world:
        raise SpecError([Problem(None, f"must be divisible by the {processes.world} processes, got {batch_size}",
                                 field="train.batch_size")])
    return batch_size // processes.world


def _engine(spec: NetSpec, loaders: Loaders, device: torch.device, processes: Processes,
            compile: bool | CompileMode | None, *, fresh: bool) -> tuple[Engine, Initial | None, tuple[str, ...]]:
    """The engine (from the recipe's initial weights when `fresh`; a resume's come from its checkpoint), stepping
    as one CUDA graph where the run allows it, with a note where it does not."""
    recipe, train = spec.train, loaders.train
    model = cast(Network, build_model(spec))
    initial = read_initial(Path(recipe.init), model) if recipe.init != RANDOM_INIT and fresh else None
    if initial is not None:
        model.load_state_dict(initial.tensors, strict=False)  # a new classifier keeps its initialisation
    obstacle = None if not recipe.cuda_graphs else graph_obstacle(
        device, world=processes.world, resident=train.resident, compiled=compile_mode(recipe, compile) is not None,
        optimizer=recipe.optimizer)
    graphs = recipe.cuda_graphs and obstacle is None
    parts = [model.stem, *model.stages]  # the backbone, in the input's order
    engine = build_engine(model, recipe, device=device, steps_per_epoch=len(train), world=processes.world,
                          rank=processes.rank, compile=compile, fused=graphs, frozen=parts[:recipe.frozen_stages],
                          scaled=parts)
    if graphs and isinstance(train, BatchLoader):  # graph_obstacle allows only data held on the device
        engine.graphed = GraphedStep(engine, train.materialize, train.batch_size, capture=True)
    shown = recipe.cuda_graphs and device.type == "cuda" and obstacle is not None
    notes = (initial.note(),) if initial is not None else ()
    return engine, initial, notes + ((f"each step runs eagerly, not as one CUDA graph: {obstacle}",) if shown else ())


# --- 4.: resume or start ----------------------------------------------------------------------------------------


def _resume_or_start(
    fitted: Fitted, *, out: Path | None, resume: RunFolder | None, engine: Engine, processes: Processes
) -> tuple[RunFolder | None, TrainState | None, tuple[str, ...]]:
    """The run folder (rank 0 only) and the newest good checkpoint's state, checked against what trains now."""
    if resume is None:
        folder = RunFolder.create(out, fitted.spec.name) if out is not None and processes.main else None
        if folder is not None:  # fail before training if the folder cannot take the files
            folder.write_spec(fitted.spec, header=f"The spec and recipe of run {folder.path.name}, resolved by "
                                                  f"archgen {VERSION}.\nRetrain as is: archgen train spec.toml")
            folder.write_json(DATA, fitted.data.record())
            folder.check_space(_checkpoint_bytes(engine))
        return folder, None, ()
    resume.check_unfinished()
    check_same_data(resume, fitted.data.record())
    loaded = resume.latest_checkpoint()
    notes = tuple(f"skipped damaged checkpoint {problem}" for problem in loaded.skipped)
    if loaded.state is None and loaded.skipped:  # never silently start over on top of damaged checkpoints
        raise RunError(f"no good checkpoint to resume {resume.path} from: {'; '.join(loaded.skipped)} "
                       "(move the checkpoints folder away to train the run again from the start)")
    if loaded.state is None:
        resume.check_nothing_recorded()  # starting over must never cut finished epochs away
        notes += ("no checkpoint yet (stopped before the first one): starting from the beginning",)
    else:
        assert loaded.path is not None
        check_unedited(resume.spec_path(), loaded.path)
        check_fits(loaded.state, engine, loaded.path)
    if processes.main:  # fail before training if the folder cannot take the files
        resume.check_writable()
        resume.check_space(_checkpoint_bytes(engine))
    return resume if processes.main else None, loaded.state, notes


def _starting_point(
    engine: Engine, state: TrainState | None
) -> tuple[tuple[EpochMetrics, ...], int, int, EpochTotals]:
    """(history, epoch, step, totals so far) to continue from; the state's weights, optimiser and RNGs restored."""
    if state is None:
        return (), 0, 0, EpochTotals()
    restore(engine, state)
    totals = EpochTotals(**vars(state.totals)) if engine.rank == 0 else EpochTotals()  # saved: summed already
    return state.history, state.epoch, state.step, totals


def _checkpoint_bytes(engine: Engine) -> int:
    """About one checkpoint: weights and buffers, plus the optimiser's per-parameter state (<= 2 copies)."""
    weights = sum(t.numel() * t.element_size() for t in engine.module.state_dict().values())
    return 3 * weights + 65536


# --- 5.: what the epochs report and save ------------------------------------------------------------------------


def _agreed(requested: bool, engine: Engine, done: int) -> bool:
    """A stop request every process acts on at the same step (on GPUs, agreed every AGREE_EVERY steps)."""
    if engine.world == 1:
        return requested
    if engine.device.type != "cpu" and done % AGREE_EVERY:
        return False
    return any_process(requested, engine.device)


def _progress(meter: Meter, done: int, steps: int, world: int) -> StepProgress:
    totals = meter.read(done)  # one wait for the device per refresh
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


# --- 6.: the summary --------------------------------------------------------------------------------------------


def _summarise(folder: RunFolder | None, fitted: Fitted, engine: Engine, loaders: Loaders, *, status: str,
               seconds: float) -> None:
    if folder is None:
        return
    summary: dict[str, Any] = {"name": fitted.spec.name, "status": status, "data": fitted.data.source}
    if status == "finished":
        state = engine.module.state_dict()
        weights = save_safetensors({name: tensor.detach().cpu().contiguous() for name, tensor in state.items()})
        folder.write_weights(weights)
        summary["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    history = folder.metrics() if folder.has_metrics() else ()
    cost = analyze(fitted.spec)
    summary.update(
        epochs=fitted.spec.train.epochs, epochs_done=len(history), params=cost.params, macs=cost.macs,
        final_train_error=history[-1].train_error if history else None,
        final_val_error=history[-1].val_error if history else None,
        best_val_error=min((m.val_error for m in history), default=None),
        device=str(engine.device), world_size=engine.world, batch_size=fitted.spec.train.batch_size,
        batch_per_process=loaders.train.batch_size, samples_per_process=loaders.train.samples,
        steps_per_epoch=len(loaders.train), updates=engine.updates, train_images=len(fitted.data.train),
        val_images=len(fitted.data.val), seconds=round(seconds, 3), archgen=VERSION, torch=torch.__version__,
        cuda_graphs=engine.graphed is not None,
    )
    # when training failed, that error says more: a full disk must not hide it
    with contextlib.suppress(RunError) if status != "finished" else contextlib.nullcontext():
        folder.write_summary(summary)


def _plan(fitted: Fitted, loaders: Loaders, engine: Engine, folder: RunFolder | None, state: TrainState | None,
          notes: tuple[str, ...]) -> RunPlan:
    data, cost = fitted.data, analyze(fitted.spec)
    return RunPlan(
        spec=fitted.spec, data=data.source, train_images=len(data.train), val_images=len(data.val),
        image_shape=(data.channels, data.size, data.size), classes=data.classes, device=str(engine.device),
        world=engine.world, batch_size=fitted.spec.train.batch_size, steps_per_epoch=len(loaders.train),
        params=cost.params, macs=cost.macs, run_dir=folder.path if folder else None,
        start_epoch=state.epoch if state else 0, start_step=state.step if state else 0,
        notes=fitted.notes + notes,
    )


# --- around the whole run ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _reproducible(device: torch.device, seed: int) -> Iterator[None]:
    """Seed every RNG; on CPU, deterministic algorithms (bitwise-identical resumes). Restores the setting after."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


@contextlib.contextmanager
def _holding(folder: RunFolder | None) -> Iterator[None]:
    """One process at a time trains in a run folder."""
    if folder is None:
        yield
        return
    with folder:
        yield


@contextlib.contextmanager
def _stop_requests(enabled: bool) -> Iterator[Any]:
    """SIGINT and SIGTERM as a request to stop at the next step (after a checkpoint), for runs that keep one."""
    if not enabled:
        yield None
        return
    with stop_on_signals() as request:
        yield request

