"""Timing a built network: the median milliseconds of one forward pass of a single image on a device, after warm-up.

Knows modules and torch devices; not how a device was chosen (`archgen.devices`) nor who asks (the search's latency
objective).
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

WARMUP, RUNS = 3, 15  # untimed passes (lazy initialisation, caches, kernel choice), then the timed ones


def measure_latency(model: nn.Module, input_shape: tuple[int, int, int], *, device: torch.device,
                    warmup: int = WARMUP, runs: int = RUNS) -> float:
    """Median milliseconds of one forward pass of a batch of one `input_shape` (C, H, W) image through `model`,
    moved to `device` and put in eval mode, without gradients. Weights do not matter: an untrained net times alike."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"measure_latency needs runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    model = model.to(device).eval()
    image = torch.randn(1, *input_shape, device=device)  # (1, C, H, W)
    times = []
    with torch.no_grad():
        for run in range(warmup + runs):
            _wait(device)
            start = time.perf_counter()
            model(image)
            _wait(device)
            if run >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _wait(device: torch.device) -> None:
    """Wait for the work queued on `device`: a timing must not stop before what it times has run (a CPU runs it at
    once). `archgen.devices.synchronize`'s rule, spelled here: the layering keeps compile from importing devices."""
    if device.type != "cpu":
        torch.accelerator.synchronize(device)  # cuda, mps, xpu alike
