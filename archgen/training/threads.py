"""How many CPU threads torch computes with, chosen from the work, and how idle threads wait.

Small nets on small batches (the digits ResNet-20: 0.2 G multiply-adds a step) gain little from a second thread
and lose much when the cores are shared: each of torch's OpenMP threads spins at a barrier after every operator,
and a spinning thread that lost its core stalls the others (7x slower beside two busy processes on 2 cores,
bench/threads.md). Such runs take 1 thread; larger work takes every core this process may use. The user's choice
wins: `--threads N` or OMP_NUM_THREADS. Torch-free until `choose_threads` runs.
"""

from __future__ import annotations

import os
import sys

THREADS = "OMP_NUM_THREADS"
WAIT_POLICY = "OMP_WAIT_POLICY"
# Multiply-adds of one training step's forward pass (MACs per image x batch) below which one thread is chosen:
# bench/threads.md measures where a second thread starts to pay on 2 cores (ResNet-20 at batch 64 on 8x8 digits
# is 0.16 G; the same net at batch 128 on 32x32 CIFAR is 5.2 G).
ONE_THREAD_BELOW = 2_000_000_000


def prepare_threads(threads: int | None) -> None:
    """Before torch is imported (OpenMP reads its environment once): `--threads N` as OMP_NUM_THREADS, and idle
    threads that sleep at once instead of spinning (OMP_WAIT_POLICY=PASSIVE) unless the user set a policy."""
    if threads is not None:
        os.environ[THREADS] = str(threads)
        if "torch" in sys.modules:  # imported already (archgen run in-process): torch's own setting
            import torch

            torch.set_num_threads(threads)
    if "torch" not in sys.modules:
        os.environ.setdefault(WAIT_POLICY, "PASSIVE")


def threads_for(macs_per_step: int, *, cores: int) -> int:
    """The threads a CPU step of `macs_per_step` forward multiply-adds is given on `cores` cores."""
    return 1 if macs_per_step < ONE_THREAD_BELOW else max(1, cores)


def choose_threads(macs_per_step: int, *, device_type: str) -> int | None:
    """Set torch's intra-op threads for a run on the CPU from its work (forward multiply-adds of one step: MACs per
    image x batch); the user's OMP_NUM_THREADS is kept, and a GPU run's CPU keeps torch's default (it only feeds
    the device). Returns the threads set, or None."""
    if device_type != "cpu" or os.environ.get(THREADS):
        return None
    import torch

    chosen = threads_for(macs_per_step, cores=usable_cores())
    torch.set_num_threads(chosen)
    return chosen


def usable_cores() -> int:
    """The CPUs this process may use: its affinity (as a container or `taskset` limits it), shared with the other
    processes torchrun started on this machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
