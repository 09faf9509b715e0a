"""Where training runs among torchrun's processes: this process's rank, and joining or leaving the process group.

Knows `torch.distributed`; nothing of models or data. Devices are named by `archgen.devices`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from archgen.devices import use


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


@contextlib.contextmanager
def joined(processes: Processes, device: torch.device) -> Iterator[None]:
    """Within the block, `device` is this process's current device and torchrun's processes are one group (NCCL
    between GPUs, gloo on CPU; nothing to join for a single process); the group is left after.

    The current CUDA device is set for every run, one process or many, before anything is allocated: CUDA-graph
    capture and the caching allocator use the current device's streams and pools, so a run on cuda:1 with cuda:0
    current would capture on the wrong device and replay an empty graph (pytorch#87794)."""
    use(device)
    joining = processes.world > 1 and not dist.is_initialized()
    if joining:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        if joining and dist.is_initialized():
            dist.destroy_process_group()
