"""Training: an `nn.Module`, batch loaders and a recipe in; per-epoch metrics and resumable states out.

Knows nothing of specs' block fields (only the recipe, `archgen.spec.schema.Train`), data formats
or run folders: callers get states through a callback and decide where they go.
"""

from archgen.train.device import Processes, processes_from_env, select_device, start_processes, stop_processes
from archgen.train.engine import Engine, build_engine
from archgen.train.errors import DeviceError, NonFiniteLoss, OutOfMemory, TrainingStopped
from archgen.train.fit import Callbacks, fit
from archgen.train.loop import Batches, evaluate, train_epoch
from archgen.train.metrics import EpochMetrics, EpochTotals, StepProgress
from archgen.train.signals import StopRequest, stop_on_signals
from archgen.train.state import TrainState

__all__ = [
    "Batches",
    "Callbacks",
    "DeviceError",
    "Engine",
    "EpochMetrics",
    "EpochTotals",
    "NonFiniteLoss",
    "OutOfMemory",
    "Processes",
    "StepProgress",
    "StopRequest",
    "TrainState",
    "TrainingStopped",
    "build_engine",
    "evaluate",
    "fit",
    "processes_from_env",
    "select_device",
    "start_processes",
    "stop_on_signals",
    "stop_processes",
    "train_epoch",
]
