"""What training tells its caller: the plan before, progress and every epoch while it runs (a `Listener` hears
them), and the result after. Plain values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archgen.spec.schema import NetSpec
from archgen.train.metrics import EpochMetrics, StepProgress

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Plan:
    """What is about to train, where, on what; given to `on_start` before the first step."""

    spec: NetSpec
    """The spec as it trains: input fitted to the data, recipe with every override applied."""
    data: str
    train_images: int
    val_images: int
    image_shape: tuple[int, int, int]
    """(channels, height, width) as the network sees them."""
    classes: int
    device: str
    world: int
    """Processes (torchrun workers)."""
    batch_size: int
    """Images per optimiser step over all processes."""
    steps_per_epoch: int
    params: int
    macs: int
    run_dir: Path | None
    start_epoch: int = 0
    """Epochs already done (resumed runs)."""
    start_step: int = 0
    notes: tuple[str, ...] = ()
    """What archgen changed or noticed: input fitted to the data, damaged checkpoints skipped."""


@dataclass(frozen=True)
class TrainResult:
    """A finished training: every epoch's metrics and the network's size."""

    spec: NetSpec
    history: tuple[EpochMetrics, ...]
    params: int
    macs: int
    run_dir: Path | None

    @property
    def final_val_error(self) -> float:
        return self.history[-1].val_error if self.history else float("nan")

    @property
    def best_val_error(self) -> float:
        return min((m.val_error for m in self.history), default=float("nan"))

    @property
    def final_train_error(self) -> float:
        return self.history[-1].train_error if self.history else float("nan")


class Listener:
    """What a caller of `train` hears (the CLI's display, the search's pruner): override what you need.

    Called on the main process only. Any exception a method raises stops training and propagates unchanged
    (a pruned trial, say); the run folder keeps its last checkpoint and says the run stopped.
    """

    def on_start(self, plan: Plan) -> None:
        """Before the first step: what trains on what, where."""

    def on_progress(self, progress: StepProgress) -> None:
        """The running epoch so far: after every step on CPU, at most every half second on accelerators."""

    def on_epoch(self, metrics: EpochMetrics) -> None:
        """After each epoch (and its checkpoint)."""

    def on_note(self, note: str) -> None:
        """Something the run changed while it ran, in one line (a CUDA graph that could not be captured)."""

    def on_trained(self, model: nn.Module) -> None:
        """After the last epoch of a finished run: the trained network, on its device (a search keeps its weights,
        which a run without a folder writes nowhere)."""
