"""An epoch's running loss and error: summed on the device each step (`Meter`), read back to the host as
`EpochTotals` only when the caller asks, so the host never waits for the device inside an epoch."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from archgen.training.errors import NonFiniteLoss


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


class Meter:
    """An epoch's running loss and error: summed on the device each step, read to the host only when asked.

    `sums` is one static tensor for the whole run (a captured CUDA graph adds into it), reset after each read.
    """

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss x images, wrong
        self.exact = device.type == "cpu"  # reads are free: check every step, before its update
        self.totals, self.epoch, self.unread, self.read_up_to = EpochTotals(), 0, 0, 0
        self.began, self.seen_before = time.perf_counter(), 0.0

    def begin(self, epoch: int, totals: EpochTotals, *, step: int) -> None:
        """Start (or resume, at `step` with `totals` so far) the 0-based `epoch`."""
        self.totals, self.epoch, self.unread, self.read_up_to = totals, epoch, 0, step
        self.began, self.seen_before = time.perf_counter(), totals.seen
        self.sums.zero_()

    def images_per_second(self) -> float:
        """This process's training speed since `begin`, over the images read so far."""
        return (self.totals.seen - self.seen_before) / max(time.perf_counter() - self.began, 1e-9)

    def add(self, loss: Tensor, wrong: Tensor, count: int) -> None:
        """One step's mean loss and wrong predictions over `count` images."""
        self.accumulate(loss, wrong, count)
        self.count(count)

    def accumulate(self, loss: Tensor, wrong: Tensor, count: int) -> None:
        """The device half of `add`: what a captured CUDA graph replays (it counts its images with `count`)."""
        self.sums.add_(torch.stack([loss.detach().double() * count, wrong.double()]))

    def count(self, images: int) -> None:
        """The host half of `add`: `images` more trained on since the last read."""
        self.unread += images

    def check(self, loss: Tensor, step: int) -> None:
        """On CPU: refuse a non-finite loss before the update it would make (the step is exact)."""
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLoss(f"the training loss became {value} at epoch {self.epoch + 1}, step {step}: training "
                                "stopped and no checkpoint was written after it (lower the learning rate or check the "
                                "data)", epoch=self.epoch + 1, step=step)

    def read(self, step: int) -> EpochTotals:
        """The epoch's totals up to `step` (steps done); one wait for the device. Non-finite sums stop training."""
        loss_sum, wrong = self.sums.tolist()
        if not math.isfinite(loss_sum):
            where = f"step {step}" if step - self.read_up_to <= 1 else f"between steps {self.read_up_to + 1} and {step}"
            raise NonFiniteLoss(
                f"the training loss became {loss_sum} at epoch {self.epoch + 1}, {where} (losses are read back from "
                "the GPU in batches, so the step is approximate): training stopped and no checkpoint was written "
                "after it (lower the learning rate or check the data)", epoch=self.epoch + 1, step=step)
        self.totals.loss_sum += loss_sum
        self.totals.wrong += wrong
        self.totals.seen += self.unread
        self.sums.zero_()
        self.unread, self.read_up_to = 0, step
        return self.totals
