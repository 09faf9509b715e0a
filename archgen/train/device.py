"""Where training runs: device selection (cuda, then mps, then cpu) and the torchrun process group.

Knows torch's devices and `torch.distributed`; nothing of models or data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from archgen.train.errors import DeviceError

DEVICES = ("auto", "cpu", "cuda", "mps")


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


def select_device(name: str = "auto", *, local_rank: int = 0) -> torch.device:
    """`auto`: cuda, then mps, then cpu. `cuda` under torchrun means this worker's LOCAL_RANK GPU."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise DeviceError(f"--device must be one of {', '.join(DEVICES)} or cuda:N, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: no CUDA GPU is available on this machine (use --device cpu)")
        return torch.device(name if ":" in name else f"cuda:{local_rank}")
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("--device mps: Apple's Metal backend is not available on this machine (use --device cpu)")
    return torch.device(name)


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
