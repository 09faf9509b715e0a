"""The `latency` objective: milliseconds per single-image forward pass of a trial's network on this device.

Measured on the untrained network (latency does not depend on weights), median of several runs after warm-up.
"""

from __future__ import annotations

import statistics
import time

import torch

from archgen.compile import build_model
from archgen.spec.schema import NetSpec

WARMUP = 3
RUNS = 15


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.no_grad()
def measure_latency(spec: NetSpec, *, device: str = "auto") -> float:
    """Median milliseconds of one forward pass of batch 1."""
    target = pick_device(device)
    model = build_model(spec).to(target).eval()
    image = torch.randn(1, spec.input.channels, spec.input.size, spec.input.size, device=target)  # (1, C, H, W)
    times = []
    for run in range(WARMUP + RUNS):
        if target.type == "cuda":
            torch.cuda.synchronize(target)
        start = time.perf_counter()
        model(image)
        if target.type == "cuda":
            torch.cuda.synchronize(target)
        if run >= WARMUP:
            times.append((time.perf_counter() - start) * 1000)
    del model, image
    return statistics.median(times)
