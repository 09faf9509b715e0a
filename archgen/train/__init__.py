"""Training's tensor code: an `nn.Module`, batches and a recipe in; optimiser steps, evaluations and resumable states
out. `archgen.pipeline.train` runs the epochs; this package does what happens inside one.

Knows nothing of specs' block fields (only the recipe, `archgen.spec.schema.Train`), data formats
or run folders: callers get states and decide where they go.
"""

from archgen.train.device import Processes, processes_from_env, start_processes, stop_processes
from archgen.train.engine import CompileMode, Engine, build_engine, compile_mode
from archgen.train.errors import NonFiniteLoss, OutOfMemory, TrainingStopped
from archgen.train.graphs import GraphedStep, graph_obstacle
from archgen.train.metrics import EpochMetrics, EpochTotals, StepProgress
from archgen.train.signals import StopRequest, stop_on_signals
from archgen.train.state import TrainState, capture, restore
from archgen.train.steps import (
    Batch,
    Batches,
    Meter,
    any_process,
    evaluate,
    reduce_totals,
    train_epoch,
    weights_finite,
)

__all__ = [
    "Batch",
    "Batches",
    "CompileMode",
    "Engine",
    "EpochMetrics",
    "EpochTotals",
    "GraphedStep",
    "Meter",
    "NonFiniteLoss",
    "OutOfMemory",
    "Processes",
    "StepProgress",
    "StopRequest",
    "TrainState",
    "TrainingStopped",
    "any_process",
    "build_engine",
    "capture",
    "compile_mode",
    "evaluate",
    "graph_obstacle",
    "processes_from_env",
    "reduce_totals",
    "restore",
    "start_processes",
    "stop_on_signals",
    "stop_processes",
    "train_epoch",
    "weights_finite",
]
