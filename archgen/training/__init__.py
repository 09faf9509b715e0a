"""Training: "train this spec on this data, into a run folder", and everything a run leaves behind.

`train(with_recipe(spec, data=…, epochs=…), out=…)` is the one entry point the CLI and the search use; a `Listener`
hears its plan, progress and epochs. This front is torch-free: the events, errors and run-folder records load at
once (the search's parent process and `archgen compare` need nothing else); everything that needs torch loads on
first use (PEP 562), so `import archgen.training` costs milliseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archgen.lazy import attributes
from archgen.training.errors import NonFiniteLoss, OutOfMemory, TrainingStopped
from archgen.training.events import EpochMetrics, Listener, RunPlan, StepProgress, TrainResult
from archgen.training.record import (
    CURVES,
    DATA,
    METRICS,
    SPEC,
    SUMMARY,
    WEIGHTS,
    RunRecord,
    read_metrics,
    read_run,
    read_summary,
)

if TYPE_CHECKING:
    from archgen.training.checkpoints import Loaded, load_latest, read_weights, save_checkpoint
    from archgen.training.engine import Engine, build_engine
    from archgen.training.fitting import Fitted, fit_to_data, with_recipe
    from archgen.training.folder import RunFinished, RunFolder
    from archgen.training.meter import EpochTotals, Meter
    from archgen.training.state import TrainState, capture
    from archgen.training.steps import train_epoch
    from archgen.training.trained import load_trained
    from archgen.training.trainer import train

# name -> the module that defines it, imported on first use (each of these imports torch)
_LAZY = {
    "Loaded": "checkpoints", "load_latest": "checkpoints", "read_weights": "checkpoints",
    "save_checkpoint": "checkpoints",
    "Engine": "engine", "build_engine": "engine",
    "Fitted": "fitting", "fit_to_data": "fitting", "with_recipe": "fitting",
    "RunFinished": "folder", "RunFolder": "folder",
    "EpochTotals": "meter", "Meter": "meter",
    "TrainState": "state", "capture": "state",
    "train_epoch": "steps",
    "load_trained": "trained",
    "train": "trainer",
}

__all__ = [
    "CURVES",
    "DATA",
    "METRICS",
    "SPEC",
    "SUMMARY",
    "WEIGHTS",
    "Engine",
    "EpochMetrics",
    "EpochTotals",
    "Fitted",
    "Listener",
    "Loaded",
    "Meter",
    "NonFiniteLoss",
    "OutOfMemory",
    "RunFinished",
    "RunFolder",
    "RunPlan",
    "RunRecord",
    "StepProgress",
    "TrainResult",
    "TrainState",
    "TrainingStopped",
    "build_engine",
    "capture",
    "fit_to_data",
    "load_latest",
    "load_trained",
    "read_metrics",
    "read_run",
    "read_summary",
    "read_weights",
    "save_checkpoint",
    "train",
    "train_epoch",
    "with_recipe",
]


__getattr__ = attributes("archgen.training", _LAZY)
