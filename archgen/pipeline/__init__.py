"""Train this spec on this data (into a run folder): compile + data + train + runs, glued.

The one entry point the CLI and the search use: `train(spec, out=…)` or `train(spec, resume=RunFolder.open(dir))`,
the spec first given its run's overrides by `with_recipe(spec, data=…, epochs=…)`.
"""

from archgen.pipeline.fitting import Fitted, fit_to_data, with_recipe
from archgen.pipeline.result import Listener, Plan, TrainResult
from archgen.pipeline.trained import load_trained
from archgen.pipeline.trainer import train
from archgen.train import EpochMetrics, NonFiniteLoss, OutOfMemory, StepProgress, TrainingStopped

__all__ = [
    "EpochMetrics",
    "Fitted",
    "Listener",
    "NonFiniteLoss",
    "OutOfMemory",
    "Plan",
    "StepProgress",
    "TrainResult",
    "TrainingStopped",
    "fit_to_data",
    "load_trained",
    "train",
    "with_recipe",
]
