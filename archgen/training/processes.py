"""Where training runs among torchrun's processes: this process's rank, and joining or leaving the process group.

Knows `torch.distributed`; nothing of models or data. Devices are named by `archgen.devices`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Processes:
    """This process's place among the torchrun workers (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that logs and writes checkpoints."""
        return self.rank == 0


def processes_from_env() -> Processes:
    """The torchrun worker layout from RANK, WORLD_SIZE and LOCAL_RANK (one process when unset)."""
    return Processes(
        rank=int(os.environ.get("RANK", "0")),
        world=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def start_processes(processes: Processes, device: torch.device) -> None:
    """Join torchrun's process group: NCCL between GPUs, gloo on CPU. No-op for a single process."""
    if processes.world == 1 or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def stop_processes() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
