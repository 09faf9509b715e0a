"""Train this spec on this data (into a run folder): data, fitting, compiling, training and run files glued.

`train_spec` starts a run, `resume_run` continues one from its newest good checkpoint. Rendering is
the caller's: it hears `on_start`, `on_step` and `on_epoch` (on the main process only).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from archgen.compile import build_model
from archgen.data import Loaders, load_data, make_loaders, parse_source
from archgen.errors import Problem, SpecError
from archgen.pipeline.fitting import Fitted, fit_to_data
from archgen.pipeline.result import TrainResult
from archgen.pipeline.run import Listeners, OnEpoch, OnStart, OnStep, Run
from archgen.runs import RunFolder
from archgen.spec import load_spec
from archgen.spec.schema import NetSpec, Train
from archgen.train import (
    Processes,
    StopRequest,
    build_engine,
    processes_from_env,
    select_device,
    start_processes,
    stop_on_signals,
    stop_processes,
)

CHECKPOINT_SECONDS = 300.0  # a mid-epoch checkpoint at least this often on long epochs


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
    values["data"] = _absolute(values.get("data", spec.train.data))  # the run folder's spec works from anywhere
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
            run = Run.begin(fitted, out=out, folder=folder, processes=processes, engine=engine)
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


