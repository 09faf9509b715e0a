"""What training tells its caller, as plain values (torch-free): the plan before the first step, progress while an
epoch runs, every finished epoch, and the result after; a `Listener` hears them."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archgen.spec.schema import NetSpec

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class EpochMetrics:
    """One finished epoch. Errors are fractions (0.08 = 8%); training figures are measured on the fly, as in
    the paper's figures."""

    epoch: int
    """1 for the first epoch."""
    train_loss: float
    train_error: float
    val_loss: float
    val_error: float
    lr: float
    """Learning rate of the epoch's last step."""
    images_per_second: float
    """Training images per second over all processes (evaluation excluded)."""
    seconds: float
    """Wall time of the epoch, evaluation included."""
    images: int = 0
    """Training images seen in the epoch by all processes (DistributedSampler pads each shard to equal size)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochMetrics:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})

    @classmethod
    def parse(cls, line: bytes | str) -> EpochMetrics:
        """One metrics.jsonl line; ValueError (saying why) for anything else, whatever its bytes."""
        data = json.loads(line)  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        fields = cls.__dataclass_fields__
        missing = [name for name, field in fields.items() if name not in data and field.default is MISSING]
        wrong = [name for name in fields if name in data and (isinstance(data[name], bool)
                                                              or not isinstance(data[name], int | float))]
        if missing or wrong:
            raise ValueError(f"missing {', '.join(missing)}" if missing else f"{wrong[0]} is not a number")
        return cls.from_dict(data)


@dataclass(frozen=True)
class StepProgress:
    """The epoch so far: running training loss and error over the steps done."""

    epoch: int
    step: int
    """Steps done in this epoch."""
    steps: int
    """Steps in the epoch."""
    loss: float
    error: float
    images_per_second: float



@dataclass(frozen=True)
class RunPlan:
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

    def on_start(self, plan: RunPlan) -> None:
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


class Listeners(Listener):
    """Several listeners heard as one, in order (a run folder's TensorBoard events, then the caller's)."""

    def __init__(self, *listeners: Listener) -> None:
        self.listeners = listeners

    def on_start(self, plan: RunPlan) -> None:
        for listener in self.listeners:
            listener.on_start(plan)

    def on_progress(self, progress: StepProgress) -> None:
        for listener in self.listeners:
            listener.on_progress(progress)

    def on_epoch(self, metrics: EpochMetrics) -> None:
        for listener in self.listeners:
            listener.on_epoch(metrics)

    def on_note(self, note: str) -> None:
        for listener in self.listeners:
            listener.on_note(note)

    def on_trained(self, model: nn.Module) -> None:
        for listener in self.listeners:
            listener.on_trained(model)
