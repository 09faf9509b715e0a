"""What a run trains with, made before its first step: the spec fitted to its data, this process's loaders, the
network on its device with its optimiser, schedule and step (eager or one CUDA graph, chosen here, once), its cost
(analysed once), and the memory check that refuses a batch that cannot fit before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch

from archgen.analysis import Complexity, analyze
from archgen.compile import Network, build_model
from archgen.data import Loaders, load_data, make_loaders
from archgen.errors import Problem, SpecError
from archgen.spec.schema import RANDOM_INIT, CompileMode, NetSpec
from archgen.training.batch_memory import check_memory, with_largest_batch
from archgen.training.captured import graph_obstacle, make_step
from archgen.training.engine import Engine, build_engine, compile_mode
from archgen.training.fitting import Fitted, fit_to_data
from archgen.training.pretrained import Initial, read_initial
from archgen.training.processes import Processes
from archgen.training.steps import Step
from archgen.training.threads import choose_threads


@dataclass(frozen=True)
class Setup:
    """One process's run, ready to train."""

    fitted: Fitted
    loaders: Loaders
    engine: Engine
    step: Step
    cost: Complexity
    """The fitted spec's exact size (params, MACs), analysed once for the plan, the summary and the result."""
    processes: Processes
    initial: Initial | None
    """The weights a new run starts from (`train.init`), with their sha256; None from random weights or resuming."""
    notes: tuple[str, ...]

    @property
    def spec(self) -> NetSpec:
        """The spec as it trains: input fitted to the data, every override applied (the batch auto-sized)."""
        return self.fitted.spec


def set_up(spec: NetSpec, device: torch.device, processes: Processes, *, compile: bool | CompileMode | None,
           auto_batch: bool, fresh: bool, on_note: Callable[[str], None]) -> Setup:
    """Everything `spec` trains with on `device` in this process. fresh: a new run (a resume's weights come from its
    checkpoint, not `train.init`); on_note hears what the run changes while it trains (a capture that failed)."""
    recipe = spec.train
    # 1. the spec fitted to its data: channels, classes (and the size, if the strides need it) follow it
    fitted = fit_to_data(spec, load_data(recipe.data, size=spec.input.size, seed=recipe.seed))
    if auto_batch:  # the largest power-of-two batch the device holds, by the memory estimate
        fitted = with_largest_batch(fitted, device, world=processes.world)
    spec, recipe = fitted.spec, fitted.spec.train
    choose_threads(analyze(spec).macs * _per_process(recipe.batch_size, processes), device_type=device.type)
    # 2. the loaders: this process's shard, normalised by the training split's statistics
    loaders = make_loaders(fitted.data, batch_size=_per_process(recipe.batch_size, processes), augment=recipe,
                           seed=recipe.seed, device=device, rank=processes.rank, world=processes.world)
    # 3. the network on its device, maybe from other weights, with its optimiser, schedule and step
    model = cast(Network, build_model(spec))
    initial = read_initial(Path(recipe.init), model) if recipe.init != RANDOM_INIT and fresh else None
    if initial is not None:
        model.load_state_dict(initial.tensors, strict=False)  # a new classifier keeps its initialisation
    obstacle = _graph_obstacle(spec, loaders, device, processes, compile) if recipe.cuda_graphs else None
    graphs = recipe.cuda_graphs and obstacle is None
    parts = [model.stem, *model.stages]  # the backbone, in the input's order
    engine = build_engine(model, recipe, device=device, steps_per_epoch=len(loaders.train), world=processes.world,
                          rank=processes.rank, compile=compile, fused=graphs, frozen=parts[:recipe.frozen_stages],
                          scaled=parts)
    step = make_step(engine, loaders.train, graphs=graphs, on_note=on_note)
    # 4. a batch that cannot fit is refused before anything is written
    check_memory(spec, engine, loaders.train, captured=step.captured)
    eager = f"each step runs eagerly, not as one CUDA graph: {obstacle}" if obstacle and device.type == "cuda" else None
    notes = tuple(note for note in (initial.note() if initial else None, eager) if note)
    return Setup(fitted, loaders, engine, step, analyze(spec), processes, initial, notes)


def _per_process(batch_size: int, processes: Processes) -> int:
    if batch_size % processes.world:
        raise SpecError([Problem(None, f"must be divisible by the {processes.world} processes, got {batch_size}",
                                 field="train.batch_size")])
    return batch_size // processes.world


def _graph_obstacle(spec: NetSpec, loaders: Loaders, device: torch.device, processes: Processes,
                    compile: bool | CompileMode | None) -> str | None:
    """Why this run cannot step as one CUDA graph, or None."""
    recipe = spec.train
    capturable = device.type == "cuda" and loaders.train.capturable
    return graph_obstacle(device, world=processes.world, resident=capturable,
                          compiled=compile_mode(recipe, compile) is not None, optimizer=recipe.optimizer)
