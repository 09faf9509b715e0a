"""One search, as every worker runs it: the resolved search spec, the study, its storage, and per-run knobs.

Frozen and picklable (module-level trainer only), so `--workers N` hands it to N spawned processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archgen.errors import SearchError
from archgen.search.storage import StorageSpec
from archgen.spec.schema import NetSpec
from archgen.spec.search_space import SearchSpace

DEFAULT_TRIALS = 50

# train_spec(spec, *, data, epochs, batch_size, lr, device, seed, out, on_epoch) -> TrainResult (archgen.pipeline)
Trainer = Callable[..., Any]


@dataclass(frozen=True)
class SearchConfig:
    """Everything a worker needs; `spec` already carries the run's epochs (search.epochs) and data (train.data)."""

    spec: NetSpec
    study: str
    storage: StorageSpec
    trials: int
    out: Path
    timeout: float | None = None
    seed: int = 0
    workers: int = 1
    device: str = "auto"
    trainer: Trainer | None = None
    """Replaces archgen.pipeline.train_spec (tests inject fakes; must be a module-level function for workers)."""
    poll_seconds: float = 0.5
    max_rejections: int = 200
    """Consecutive proposals rejected before training (over budget, invalid, duplicate) before a worker gives up."""

    @property
    def space(self) -> SearchSpace:
        assert self.spec.search is not None
        return self.spec.search


def resolve_spec(spec: NetSpec, *, epochs: int | None = None, data: str | None = None) -> NetSpec:
    """The search spec with the run's `--epochs` (search.epochs) and `--data` (train.data) written in."""
    if spec.search is None:
        raise SearchError(f"spec {spec.name!r} has no [search] table; a search spec extends a base spec and adds one")
    update: dict[str, Any] = {}
    if epochs is not None:
        update["search"] = SearchSpace.model_validate({**spec.search.model_dump(), "epochs": epochs})
    if data is not None:
        update["train"] = spec.train.model_copy(update={"data": data})
    return spec.model_copy(update=update) if update else spec


def default_trials(space: SearchSpace) -> int:
    """`--trials` when not given: the space's `trials`, else the grid's size, else 50."""
    if space.trials is not None:
        return space.trials
    if space.resolved_sampler == "grid":
        return space.size() or DEFAULT_TRIALS
    return DEFAULT_TRIALS
