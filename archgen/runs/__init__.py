"""Run folders: the resolved spec, per-epoch metrics, crash-safe checkpoints, final weights and a summary.

File I/O only: knows training states (`archgen.train.TrainState`) as data, never how they are made.
"""

from archgen.runs.checkpoints import Loaded, load_latest, read_weights, save_checkpoint
from archgen.runs.folder import (
    CURVES,
    DATA,
    METRICS,
    SPEC,
    SUMMARY,
    WEIGHTS,
    RunFinished,
    RunFolder,
    read_metrics,
    read_summary,
)

__all__ = [
    "CURVES",
    "DATA",
    "METRICS",
    "SPEC",
    "SUMMARY",
    "WEIGHTS",
    "Loaded",
    "RunFinished",
    "RunFolder",
    "load_latest",
    "read_metrics",
    "read_summary",
    "read_weights",
    "save_checkpoint",
]
