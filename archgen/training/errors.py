"""Why training stopped early: non-finite loss, out of memory, a signal."""

from __future__ import annotations

from archgen.errors import ArchgenError


class NonFiniteLoss(ArchgenError):
    """The loss (or the weights) became NaN or Inf; nothing after the last finite checkpoint was saved."""

    def __init__(self, message: str, *, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch, self.step = epoch, step


class OutOfMemory(ArchgenError):
    """The device ran out of memory at this batch size."""

    def __init__(self, message: str, *, batch_size: int) -> None:
        super().__init__(message)
        self.batch_size = batch_size


class TrainingStopped(ArchgenError):
    """SIGINT or SIGTERM asked training to stop; a checkpoint was written first when the run has a folder."""

    def __init__(self, message: str, *, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number
