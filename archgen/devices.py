"""Devices by one spelling: `--device` choices resolved (cuda, then mps, then cpu), and every other way of naming a
device (`cuda`, `cuda:0`, `torch.device("cuda")`, a torchrun local rank) made the one tensors report.

A leaf: data, training, export and the benches all compare devices, so they all normalise here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from archgen.errors import ArchgenError

DEVICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(ArchgenError):
    """The device asked for does not exist on this machine."""


def select_device(name: str = "auto", *, local_rank: int = 0) -> torch.device:
    """`auto`: cuda, then mps, then cpu. `cuda` under torchrun means this worker's LOCAL_RANK GPU. Normalised."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise DeviceError(f"--device must be one of {', '.join(DEVICES)} or cuda:N, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: no CUDA GPU is available on this machine (use --device cpu)")
        index = name.partition(":")[2]
        if index and (not index.isascii() or not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise DeviceError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPUs "
                              f"(cuda:0 … cuda:{torch.cuda.device_count() - 1})")
        return torch.device("cuda", int(index) if index else local_rank)
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("--device mps: Apple's Metal backend is not available on this machine (use --device cpu)")
    return torch.device(name)


def canonical(device: torch.device | str | int) -> torch.device:
    """One spelling per device: `cuda`, `cuda:0`, `torch.device("cuda")` and the index 0 are all `cuda:0` (the
    current GPU when no index is given), `cpu:0` is `cpu`. Tensors report their device this way, so every
    comparison of a tensor's device with a requested one holds after this, and only after this."""
    device = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
    if device.type == "cpu":
        return torch.device("cpu")  # CPU tensors report no index
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    return device if device.index is not None else torch.device(device.type, 0)  # mps tensors report mps:0


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Within the block, torch's deterministic algorithms on CPU (bitwise-identical resumes and evaluations; a GPU
    keeps its fast nondeterministic kernels); the setting before is restored after."""
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def use(device: torch.device) -> None:
    """Make `device` this process's current device where the backend has one (CUDA): streams, graphs and the
    caching allocator follow the current device, not the tensors' (every run sets it before it allocates)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on `device`: a timing must not stop before what it times has run (a CPU runs it
    at once)."""
    if device.type != "cpu":
        torch.accelerator.synchronize(device)  # cuda, mps, xpu alike
