"""How fast archgen's exact analysis is on a very deep net (ResNet-1202), against what it saves: building the module,
and counting FLOPs the torch way (build on the meta device, one forward under `FlopCounterMode`).

All three run in this process, in turns (the order alternating), after one untimed round; printed are the medians
and the ratios. The counts must agree (FLOPs = 2 x MACs), or the script fails.

    python bench/analysis_speed.py                       # ResNet-1202, 3 repeats; ~30 s on 2 cores
    python bench/analysis_speed.py --spec resnet110 --repeats 5
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no spinning OpenMP threads on a shared machine

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

import archgen


@dataclass(frozen=True)
class AnalysisSpeed:
    spec: str
    params: int
    macs: int
    analysis_seconds: float
    """`archgen.analyze(spec)`: shapes, params and MACs of every block, by integer arithmetic."""
    build_seconds: float
    """`archgen.build_model(spec)` on the CPU (allocating and initialising every weight)."""
    counter_seconds: float
    """Building on the meta device and one forward under torch's FlopCounterMode."""

    @property
    def build_ratio(self) -> float:
        return self.build_seconds / self.analysis_seconds

    @property
    def counter_ratio(self) -> float:
        return self.counter_seconds / self.analysis_seconds


def _timed(work: Callable[[], object]) -> tuple[float, object]:
    began = time.perf_counter()
    value = work()
    return time.perf_counter() - began, value


def count_flops(spec: archgen.NetSpec) -> int:
    """FLOPs of one image as torch counts them, on meta tensors (no memory, no arithmetic)."""
    with torch.device("meta"):
        model = archgen.build_model(spec).eval()
    image = torch.empty(1, spec.input.channels, spec.input.size, spec.input.size, device="meta")
    with FlopCounterMode(display=False) as counter:
        model(image)
    return int(counter.get_total_flops())


def measure(*, spec_name: str = "resnet1202", repeats: int = 3) -> AnalysisSpeed:
    spec = archgen.load_spec(spec_name)
    sides: list[Callable[[], object]] = [lambda: archgen.analyze(spec), lambda: archgen.build_model(spec),
                                         lambda: count_flops(spec)]
    complexity, _, flops = (side() for side in sides)  # untimed round: imports, caches
    assert isinstance(complexity, archgen.Complexity)
    if flops != 2 * complexity.macs:
        raise RuntimeError(f"{spec_name}: FlopCounterMode counts {flops:,} FLOPs, analysis {2 * complexity.macs:,}")
    times: list[list[float]] = [[], [], []]
    for repeat in range(repeats):
        for side in range(3) if repeat % 2 == 0 else reversed(range(3)):
            times[side].append(_timed(sides[side])[0])
    analysis, build, counter = (statistics.median(side) for side in times)
    return AnalysisSpeed(spec=spec_name, params=complexity.params, macs=complexity.macs, analysis_seconds=analysis,
                         build_seconds=build, counter_seconds=counter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="resnet1202")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = measure(spec_name=args.spec, repeats=args.repeats)
    print(f"{result.spec}: {result.params:,} params, {result.macs:,} MACs; median of {args.repeats} repeats; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"archgen.analyze                  {result.analysis_seconds * 1e3:9.1f} ms")
    print(f"archgen.build_model (CPU)        {result.build_seconds * 1e3:9.1f} ms  = {result.build_ratio:,.0f}x")
    print(f"meta build + FlopCounterMode     {result.counter_seconds * 1e3:9.1f} ms  = {result.counter_ratio:,.0f}x")


if __name__ == "__main__":
    main()
