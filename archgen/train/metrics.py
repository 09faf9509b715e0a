"""What training reports: one `EpochMetrics` per epoch, `StepProgress` while an epoch runs. Plain values, no tensors."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass
from typing import Any


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


@dataclass
class EpochTotals:
    """Running sums of the epoch in progress (host floats: saved in checkpoints, summed over processes at the end)."""

    loss_sum: float = 0.0
    wrong: float = 0.0
    seen: float = 0.0
    seconds: float = 0.0
    """Training time so far (before an interruption, too)."""

    @property
    def loss(self) -> float:
        return self.loss_sum / self.seen if self.seen else float("nan")

    @property
    def error(self) -> float:
        return self.wrong / self.seen if self.seen else float("nan")
