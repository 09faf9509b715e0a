"""Building ResNet-1202 (19.4 M parameters in 1,202 layers): time and memory, each build in a fresh process,
against the parameters' own bytes and against building the identical hand-written torchvision-style net.

Each child process imports torch and archgen, loads the spec, then times one build and reads the resident set
(/proc/self/status: VmRSS before, VmHWM after resetting it, so the peak belongs to the build alone). One more
child per side repeats the build under `tracemalloc` for the Python objects' share (torch's tensor storage is
not traced). Sides alternate (archgen, reference, reference, archgen, …); medians are printed.

    python bench/build_cost.py                        # ResNet-1202, 5 children per side; ~1 minute on 2 cores
    python bench/build_cost.py --spec resnet110 --repeats 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SIDES = ("archgen", "reference")


@dataclass(frozen=True)
class Build:
    """One side's medians over its child processes."""

    seconds: float
    peak_bytes: int
    """Peak resident set during the build, above the resident set just before it."""
    kept_bytes: int
    """Resident set after the build, above the one before it (what the module keeps)."""
    traced_peak_bytes: int
    """tracemalloc's peak during the build: Python objects (modules, lists, dicts), not tensor storage."""
    params: int


@dataclass(frozen=True)
class BuildCost:
    spec: str
    archgen: Build
    reference: Build
    """The hand-written CIFAR ResNet of the same depth (bench/compiled_vs_torchvision.py) with torchvision's init."""

    @property
    def param_bytes(self) -> int:
        return 4 * self.archgen.params  # float32

    @property
    def memory_ratio(self) -> float:
        """Peak build memory as a multiple of the parameters' bytes."""
        return self.archgen.peak_bytes / self.param_bytes

    @property
    def time_ratio(self) -> float:
        return self.archgen.seconds / self.reference.seconds

    @property
    def reference_memory_ratio(self) -> float:
        return self.archgen.peak_bytes / self.reference.peak_bytes


def _status(field: str) -> int:
    """A /proc/self/status field in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def torchvision_style(n: int) -> Any:
    """The hand-written CIFAR ResNet initialised as torchvision's ResNet does: a He-init pass over the convs
    (He et al. 2015, fan-out), BN weight 1 and bias 0, after the layers' own default initialisation."""
    from compiled_vs_torchvision import CifarResNet
    from torch import nn

    model = CifarResNet(n)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)
    return model


def _child(side: str, spec_name: str, traced: bool) -> dict[str, Any]:
    """Runs in the fresh process: one build, measured."""
    import compiled_vs_torchvision  # noqa: F401  (torchvision too: imported before anything is timed)
    import torch

    import archgen

    spec = archgen.load_spec(spec_name)
    depths = {stage.depth for stage in spec.body.resolved_stages()}
    if side == "reference" and (len(depths) != 1 or spec.body.block != "basic" or spec.input.size != 32):
        raise SystemExit(f"{spec_name}: the hand-written reference is a CIFAR basic-block net of equal stages")
    build = (lambda: archgen.build_model(spec)) if side == "archgen" else (lambda: torchvision_style(depths.pop()))
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    before = _status("VmRSS")
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    model = build()
    seconds = time.perf_counter() - began
    traced_peak = tracemalloc.get_traced_memory()[1] if traced else 0
    return {"seconds": seconds, "peak": _status("VmHWM") - before, "kept": _status("VmRSS") - before,
            "traced_peak": traced_peak, "params": sum(p.numel() for p in model.parameters()),
            "threads": torch.get_num_threads()}


def _run_child(side: str, spec_name: str, *, traced: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--spec", spec_name]
    result = subprocess.run(command + (["--traced"] if traced else []), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def measure(*, spec_name: str = "resnet1202", repeats: int = 5, traced: bool = True) -> BuildCost:
    """`repeats` timed children per side; `traced`: one more per side under tracemalloc (else its figure is 0)."""
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for repeat in range(repeats):
        for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
            runs[side].append(_run_child(side, spec_name, traced=False))
    peaks = {side: _run_child(side, spec_name, traced=True)["traced_peak"] if traced else 0 for side in SIDES}

    def median(side: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[side])

    builds = {side: Build(seconds=median(side, "seconds"), peak_bytes=round(median(side, "peak")),
                          kept_bytes=round(median(side, "kept")), traced_peak_bytes=peaks[side],
                          params=runs[side][0]["params"]) for side in SIDES}
    return BuildCost(spec=spec_name, archgen=builds["archgen"], reference=builds["reference"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="resnet1202", help="a CIFAR basic-block spec with equal stages")
    parser.add_argument("--repeats", type=int, default=5, help="child processes per side (default 5)")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        print(json.dumps(_child(args.child, args.spec, args.traced)))
        return
    result = measure(spec_name=args.spec, repeats=args.repeats)
    mib = 2**20
    print(f"{result.spec}: {result.archgen.params:,} params = {result.param_bytes / mib:.1f} MiB float32; "
          f"median of {args.repeats} fresh processes per side")
    print(f"{'side':<12} {'build ms':>9} {'peak RSS MiB':>13} {'kept MiB':>9} {'traced MiB':>11} {'params':>12}")
    for side in SIDES:
        build: Build = getattr(result, side)
        print(f"{side:<12} {build.seconds * 1e3:9.0f} {build.peak_bytes / mib:13.1f} {build.kept_bytes / mib:9.1f} "
              f"{build.traced_peak_bytes / mib:11.1f} {build.params:12,}")
    print(f"archgen: peak {result.memory_ratio:.2f}x the parameter bytes; {result.time_ratio:.2f}x the reference's "
          f"time, {result.reference_memory_ratio:.2f}x its peak memory")


if __name__ == "__main__":
    main()
