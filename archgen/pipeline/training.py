"""Train this spec on this data (into a run folder): data, fitting, compiling, training and run files glued.

`train_spec` starts a run, `resume_run` continues one from its newest good checkpoint. Rendering is
the caller's: it hears `on_start`, `on_step` and `on_epoch` (on the main process only).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError
from safetensors.torch import save as save_safetensors

from archgen.analysis import analyze
from archgen.compile import build_model
from archgen.data import Loaders, load_data, make_loaders, parse_source
from archgen.errors import ArchgenError, Problem, RunError, SpecError
from archgen.pipeline.fitting import Fitted, fit_to_data
from archgen.pipeline.result import Plan, TrainResult
from archgen.runs import RunFolder
from archgen.spec import load_spec
from archgen.spec.schema import NetSpec, Train
from archgen.train import (
    Callbacks,
    Engine,
    EpochMetrics,
    Processes,
    StepProgress,
    StopRequest,
    TrainingStopped,
    TrainState,
    build_engine,
    fit,
    processes_from_env,
    select_device,
    start_processes,
    stop_on_signals,
    stop_processes,
)

VERSION = importlib.metadata.version("archgen")
OnEpoch = Callable[[EpochMetrics], None]
OnStep = Callable[[StepProgress], None]
OnStart = Callable[[Plan], None]
CHECKPOINT_SECONDS = 300.0  # a mid-epoch checkpoint at least this often on long epochs


@dataclass(frozen=True)
class Listeners:
    on_start: OnStart | None = None
    on_step: OnStep | None = None
    on_epoch: OnEpoch | None = None


def train_spec(
    spec: NetSpec,
    *,
    data: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    device: str = "auto",
    seed: int | None = None,
    out: Path | None = None,
    compile: bool | None = None,
    on_epoch: OnEpoch | None = None,
    on_step: OnStep | None = None,
    on_start: OnStart | None = None,
    checkpoint_seconds: float | None = CHECKPOINT_SECONDS,
) -> TrainResult:
    """Train `spec` on `data` (default: the recipe's, i.e. digits); None options keep the spec's `[train]` values.

    out: the folder to create the run folder in (`out/<name>-<time>/`); None writes nothing (search trials).
    on_epoch may raise anything (e.g. optuna.TrialPruned) to stop; it propagates unchanged.
    Raises NonFiniteLoss, OutOfMemory, TrainingStopped, DataError, SpecError, RunError (all ArchgenError).
    """
    spec = with_recipe(spec, data=data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    listeners = Listeners(on_start, on_step, on_epoch)
    return _run(spec, device=device, compile=compile, out=out, folder=None, listeners=listeners,
                checkpoint_seconds=checkpoint_seconds)


def resume_run(
    run_dir: Path,
    *,
    device: str = "auto",
    compile: bool | None = None,
    on_epoch: OnEpoch | None = None,
    on_step: OnStep | None = None,
    on_start: OnStart | None = None,
    checkpoint_seconds: float | None = CHECKPOINT_SECONDS,
) -> TrainResult:
    """Continue the run in `run_dir` from its newest good checkpoint (from the start if it has none)."""
    folder = RunFolder.open(Path(run_dir))
    spec = load_spec(folder.spec_path())
    listeners = Listeners(on_start, on_step, on_epoch)
    return _run(spec, device=device, compile=compile, out=None, folder=folder, listeners=listeners,
                checkpoint_seconds=checkpoint_seconds)


def with_recipe(spec: NetSpec, **overrides: Any) -> NetSpec:
    """`spec` with the given `[train]` values replaced (None: keep), validated as the spec file would be."""
    values = {key: value for key, value in overrides.items() if value is not None}
    if "data" in values:
        values["data"] = str(_absolute(values["data"]))
    try:
        recipe = Train.model_validate({**spec.train.model_dump(), **values})
    except ValidationError as error:
        raise SpecError([
            Problem(None, str(e["msg"]).replace("Input should be", "must be") + f", got {e.get('input')!r}",
                    field="train." + ".".join(map(str, e["loc"])))
            for e in error.errors()
        ]) from None
    return spec.model_copy(update={"train": recipe})


def _absolute(data: str) -> str:
    """Folder sources with absolute paths, so the run folder's spec retrains from anywhere."""
    source = parse_source(data)
    return str(source if source.path is None else type(source)(source.kind, path=source.path.resolve()))


# --- one run ----------------------------------------------------------------------------------


def _run(
    spec: NetSpec, *, device: str, compile: bool | None, out: Path | None, folder: RunFolder | None,
    listeners: Listeners, checkpoint_seconds: float | None,
) -> TrainResult:
    processes = processes_from_env()
    torch_device = select_device(device, local_rank=processes.local_rank)
    start_processes(processes, torch_device)
    try:
        with _reproducible(torch_device, spec.train.seed):
            fitted, loaders = _prepare(spec, torch_device, processes)
            engine = build_engine(
                build_model(fitted.spec), fitted.spec.train, device=torch_device, steps_per_epoch=len(loaders.train),
                world=processes.world, rank=processes.rank, compile=compile,
            )
            run = _Run.begin(fitted, out=out, folder=folder, processes=processes, engine=engine)
            with run.holding(), _stop_request(run.writes) as stop:
                return run.train(fitted, loaders, engine, listeners, stop, checkpoint_seconds)
    finally:
        stop_processes()


def _prepare(spec: NetSpec, device: torch.device, processes: Processes) -> tuple[Fitted, Loaders]:
    recipe = spec.train
    if recipe.batch_size % processes.world:
        raise SpecError([Problem(None, f"must be divisible by the {processes.world} processes, got {recipe.batch_size}",
                                 field="train.batch_size")])
    fitted = fit_to_data(spec, load_data(recipe.data, size=spec.input.size, seed=recipe.seed))
    loaders = make_loaders(
        fitted.data, batch_size=recipe.batch_size // processes.world, augment=recipe.augment, seed=recipe.seed,
        device=device, rank=processes.rank, world=processes.world,
    )
    return fitted, loaders


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
def _stop_request(enabled: bool) -> Iterator[StopRequest | None]:
    if not enabled:
        yield None
        return
    with stop_on_signals() as request:
        yield request


class _Run:
    """One training run and its folder (if any): resuming, checkpointing, the final weights and summary."""

    def __init__(self, folder: RunFolder | None, resume: TrainState | None, notes: tuple[str, ...],
                 processes: Processes, writes: bool) -> None:
        self.folder, self.resume, self.notes, self.processes, self.writes = folder, resume, notes, processes, writes

    @classmethod
    def begin(cls, fitted: Fitted, *, out: Path | None, folder: RunFolder | None, processes: Processes,
              engine: Engine) -> _Run:
        if folder is not None:  # resuming: every process reads the newest good checkpoint
            loaded = folder.latest_checkpoint()
            notes = tuple(f"skipped damaged checkpoint {problem}" for problem in loaded.skipped)
            if loaded.state is None:
                notes += ("no checkpoint to resume from: starting from the beginning",)
            return cls(folder if processes.main else None, loaded.state, fitted.notes + notes, processes, True)
        if out is None:
            return cls(None, None, fitted.notes, processes, False)
        created = RunFolder.create(out, fitted.spec.name) if processes.main else None
        if created is not None:  # fail before training if the folder cannot take the files
            created.write_spec(fitted.spec, header=f"The spec and recipe of run {created.path.name}, resolved by "
                                                   f"archgen {VERSION}.\nRetrain as is: archgen train spec.toml")
            created.check_space(_checkpoint_bytes(engine))
        return cls(created, None, fitted.notes, processes, True)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        if self.folder is None:
            yield
            return
        with self.folder:
            yield

    def train(self, fitted: Fitted, loaders: Loaders, engine: Engine, listeners: Listeners,
              stop: StopRequest | None, checkpoint_seconds: float | None) -> TrainResult:
        cost = analyze(fitted.spec)
        main = self.processes.main
        if main and listeners.on_start is not None:
            listeners.on_start(self._plan(fitted, loaders, engine, cost.params, cost.macs))
        callbacks = Callbacks(
            on_epoch=listeners.on_epoch if main else None,
            on_step=listeners.on_step if main else None,
            on_checkpoint=self._checkpoint if self.folder is not None else None,
            checkpoint_seconds=checkpoint_seconds,
        )
        began, status = time.time(), "failed"
        try:
            history = fit(engine, loaders.train, loaders.val, epochs=fitted.spec.train.epochs,
                          resume=self.resume, callbacks=callbacks, stop=stop)
            status = "finished"
        except TrainingStopped as error:
            status = "stopped"
            if self.folder is not None:
                raise TrainingStopped(f"{error}; checkpoint saved, continue with: archgen train --resume "
                                      f"{self.folder.path}", signal_number=error.signal_number) from None
            raise
        except BaseException as error:
            status = f"failed: {error}" if isinstance(error, ArchgenError) else f"stopped: {type(error).__name__}"
            raise
        finally:
            self._summarise(fitted, loaders, engine, cost.params, cost.macs, status, time.time() - began)
        return TrainResult(fitted.spec, history, cost.params, cost.macs, self.folder.path if self.folder else None)

    def _checkpoint(self, state: TrainState) -> None:
        assert self.folder is not None
        self.folder.save_checkpoint(state)
        self.folder.write_metrics(state.history)

    def _plan(self, fitted: Fitted, loaders: Loaders, engine: Engine, params: int, macs: int) -> Plan:
        data, resume = fitted.data, self.resume
        return Plan(
            spec=fitted.spec, data=data.source, train_images=len(data.train), val_images=len(data.val),
            image_shape=(data.channels, data.size, data.size), classes=data.classes, device=str(engine.device),
            world=self.processes.world, batch_size=fitted.spec.train.batch_size, steps_per_epoch=len(loaders.train),
            params=params, macs=macs, run_dir=self.folder.path if self.folder else None,
            start_epoch=resume.epoch if resume else 0, start_step=resume.step if resume else 0, notes=self.notes,
        )

    def _summarise(self, fitted: Fitted, loaders: Loaders, engine: Engine, params: int, macs: int,
                   status: str, seconds: float) -> None:
        if self.folder is None:
            return
        summary: dict[str, Any] = {"name": fitted.spec.name, "status": status, "data": fitted.data.source}
        if status == "finished":
            state = engine.module.state_dict()
            weights = save_safetensors({name: tensor.detach().cpu().contiguous() for name, tensor in state.items()})
            self.folder.write_weights(weights)
            summary["weights_sha256"] = hashlib.sha256(weights).hexdigest()
        history = self.folder.metrics() if (self.folder.path / "metrics.jsonl").exists() else ()
        summary.update(
            epochs=fitted.spec.train.epochs, epochs_done=len(history), params=params, macs=macs,
            final_train_error=history[-1].train_error if history else None,
            final_val_error=history[-1].val_error if history else None,
            best_val_error=min((m.val_error for m in history), default=None),
            device=str(engine.device), world_size=self.processes.world, batch_size=fitted.spec.train.batch_size,
            batch_per_process=loaders.train.batch_size, samples_per_process=loaders.train.samples,
            steps_per_epoch=len(loaders.train), updates=engine.updates, train_images=len(fitted.data.train),
            val_images=len(fitted.data.val), seconds=round(seconds, 3), archgen=VERSION,
            torch=torch.__version__,
        )
        # when training failed, that error says more: a full disk must not hide it
        with contextlib.suppress(RunError) if status != "finished" else contextlib.nullcontext():
            self.folder.write_summary(summary)


def _checkpoint_bytes(engine: Engine) -> int:
    """About one checkpoint: weights and buffers, plus the optimiser's per-parameter state (<= 2 copies)."""
    weights = sum(t.numel() * t.element_size() for t in engine.module.state_dict().values())
    return 3 * weights + 65536
