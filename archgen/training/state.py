"""A training run's complete state at a step boundary, taken from and put back into an engine.

Weights (parameters and buffers) apart from the rest, so they can be stored as safetensors; the
rest holds only tensors and plain values, so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from archgen.training.engine import Engine
from archgen.training.events import EpochMetrics
from archgen.training.meter import EpochTotals


@dataclass(frozen=True)
class TrainState:
    """Where a run stands: `step` steps of 0-based `epoch` done (step 0: the epoch has not begun)."""

    epoch: int
    step: int
    updates: int
    weights: dict[str, Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    totals: EpochTotals = field(default_factory=EpochTotals)
    history: tuple[EpochMetrics, ...] = ()

    def rest(self) -> dict[str, Any]:
        """Everything but the weights, as tensors and plain values."""
        return {
            "epoch": self.epoch, "step": self.step, "updates": self.updates,
            "optimizer": self.optimizer, "scheduler": self.scheduler, "rng": self.rng,
            "totals": vars(self.totals).copy(), "history": [metrics.to_dict() for metrics in self.history],
        }

    @classmethod
    def from_parts(cls, weights: dict[str, Tensor], rest: dict[str, Any]) -> TrainState:
        return cls(
            epoch=int(rest["epoch"]), step=int(rest["step"]), updates=int(rest["updates"]), weights=weights,
            optimizer=rest["optimizer"], scheduler=rest["scheduler"], rng=rest["rng"],
            totals=EpochTotals(**rest["totals"]),
            history=tuple(EpochMetrics.from_dict(item) for item in rest["history"]),
        )


def capture(
    engine: Engine, *, epoch: int, step: int, totals: EpochTotals, history: tuple[EpochMetrics, ...]
) -> TrainState:
    """The engine's state on the host. Tensors may alias the live ones: save it before training continues."""
    return TrainState(
        epoch=epoch,
        step=step,
        updates=engine.updates,
        weights={name: tensor.detach().cpu() for name, tensor in engine.module.state_dict().items()},
        optimizer=_to_cpu(engine.optimizer.state_dict()),
        scheduler=engine.scheduler.state_dict(),
        rng=rng_state(),
        totals=EpochTotals(**vars(totals)),
        history=history,
    )


def restore(engine: Engine, state: TrainState) -> None:
    """Put a captured state back: weights, optimiser, schedule, update count and every RNG."""
    engine.module.load_state_dict(state.weights)
    engine.optimizer.load_state_dict(state.optimizer)
    engine.scheduler.load_state_dict(state.scheduler)
    engine.updates = state.updates
    set_rng_state(state.rng)


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states, as tensors and plain values."""
    kind, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)
    assert not isinstance(keys, str)
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["gauss"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_cpu(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_cpu(item) for item in value]
    return value
