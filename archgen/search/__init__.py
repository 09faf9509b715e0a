"""Searching depth and width with Optuna: spaces from specs, budgets before training, many workers, winners as specs.

The only part of archgen that imports optuna. Proposes specs (data), trains them through the pipeline,
and returns values (progress, results, plot data) that `archgen.report` renders.
"""

from archgen.search.config import SearchConfig, Trainer, default_trials, resolve_spec
from archgen.search.runner import SearchRun, open_study, run_search, run_worker
from archgen.search.signals import Stopped
from archgen.search.storage import StorageSpec, storage_spec

__all__ = [
    "SearchConfig",
    "SearchRun",
    "Stopped",
    "StorageSpec",
    "Trainer",
    "default_trials",
    "open_study",
    "resolve_spec",
    "run_search",
    "run_worker",
    "storage_spec",
]
