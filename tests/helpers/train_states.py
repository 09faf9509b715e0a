"""A small training state with every kind of value a real one holds, for checkpoint tests."""

from __future__ import annotations

import torch

from archgen.training import EpochMetrics, EpochTotals, TrainState
from archgen.training.state import rng_state


def sample_state(updates: int) -> TrainState:
    """Weights, optimiser, schedule, RNGs and history, all derived from `updates` (so two states differ)."""
    metrics = EpochMetrics(1, 0.5, 0.1, 0.6, 0.2, 0.1, 100.0, 1.0)
    return TrainState(
        epoch=updates // 10, step=updates % 10, updates=updates,
        weights={"layer.weight": torch.full((3, 2), float(updates)), "bn.num_batches_tracked": torch.tensor(updates)},
        optimizer={"state": {0: {"momentum_buffer": torch.ones(3)}}, "param_groups": [{"lr": 0.1, "params": [0]}]},
        scheduler={"decay_t": [5], "base_values": [0.1]}, rng=rng_state(),
        totals=EpochTotals(1.5, 2.0, 3.0, 0.25), history=(metrics,),
    )
