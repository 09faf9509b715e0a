"""Train this spec on this data (into a run folder): compile + data + train + runs, glued.

The one entry point the CLI and the search use: `train_spec(spec, data=…, out=…)` and `resume_run(dir)`.
"""

from archgen.pipeline.fitting import Fitted, fit_to_data
from archgen.pipeline.result import Plan, TrainResult
from archgen.pipeline.trained import load_trained
from archgen.pipeline.training import resume_run, train_spec, with_recipe
from archgen.train import EpochMetrics, NonFiniteLoss, OutOfMemory, StepProgress, TrainingStopped

__all__ = [
    "EpochMetrics",
    "Fitted",
    "NonFiniteLoss",
    "OutOfMemory",
    "Plan",
    "StepProgress",
    "TrainResult",
    "TrainingStopped",
    "fit_to_data",
    "load_trained",
    "resume_run",
    "train_spec",
    "with_recipe",
]
