"""Training memory: archgen's estimate (`archgen.analysis.footprint`) against the measured peak of real training
steps, each row in a fresh process.

A child process loads synthetic data and makes the loaders (not measured), then samples its anonymous resident
memory (RssAnon, every 0.2 ms) while archgen builds the network and its engine and runs STEPS training steps
through the trainer's own `train_epoch` (batches made by the loader, forward, loss, backward, optimiser step). The
measured figure is the highest RssAnon less the one before the build; the ratio is estimate / measured. Anonymous
memory only: the resident set also counts torch's code pages, which come and go with other processes' needs.
On a GPU (`--device cuda`) the measured figure is `torch.cuda.max_memory_allocated()` less what was allocated
before the build (the data resident there), with the recipe's bf16 autocast and channels_last, steps eager.

    python bench/memory_estimate.py                     # the page's rows; ~10 minutes on 2 cores
    python bench/memory_estimate.py --rows resnet18:112:16 --steps 4
    python bench/memory_estimate.py --calibrate         # the allocator's share, row by row; ~15 minutes
    python bench/memory_estimate.py --calibrate --no-retention   # the same with malloc keeping nothing
    python bench/memory_estimate.py --device cuda       # a GPU's rows (bf16 autocast, channels_last)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
from resident import PeakResident, status_bytes

ROWS = ("resnet18:128:16", "resnet18:128:64", "resnet50:128:8", "resnet50:128:32")
GPU_ROWS = ("resnet18:224:128", "resnet18:224:512", "resnet50:224:64", "resnet50:224:256")
# What ALLOCATOR_SHARE and FRAMEWORK_BYTES were set from: CIFAR and ImageNet nets, basic, bottleneck, grouped,
# pre-activation and plain, small and large batches (the page's rows are not among them).
CALIBRATION = ("resnet20:32:32", "resnet20:32:128", "resnet20:32:256", "resnet56:32:64", "resnet164:32:16",
               "resnet18:112:16", "resnet18:112:64", "resnet50:112:8", "resnet50:112:32", "plain18:112:16",
               "resnext50_32x4d:112:8", "resnet18:224:8", "resnet50:224:4")
CALIBRATION_STEPS = 12
NO_RETENTION = {"MALLOC_MMAP_THRESHOLD_": str(2**20)}  # every block of 1 MiB or more mapped alone, unmapped when freed
STEPS = 10
MIB = 2**20


@dataclass(frozen=True)
class Row:
    """One network at one input size and batch: the estimate's parts and the measured peak (bytes)."""

    spec: str
    size: int
    batch: int
    device: str
    precision: str
    estimate: dict[str, int]
    measured: int
    """Peak over all steps, above what was held before the build."""
    by_step: tuple[int, ...]
    """The peak so far after each step: how it settles."""
    seconds: float

    @property
    def ratio(self) -> float:
        return self.estimate["total"] / self.measured


def _child(row: str, *, steps: int, device_name: str) -> dict[str, Any]:
    """Runs in the fresh process: data and loaders, then the build and `steps` training steps, measured."""
    import torch

    from archgen import build_model, load_spec
    from archgen.analysis.footprint import footprint
    from archgen.data import load_data, make_loaders
    from archgen.training import Meter, build_engine, fit_to_data, train_epoch, with_recipe
    from archgen.training.steps import EagerStep

    name, size, batch = row.split(":")
    spec = load_spec(name)
    spec = spec.model_copy(update={"input": spec.input.model_copy(update={"size": int(size)})})
    data = f"synthetic:3x{size}x{size},classes={spec.input.classes},train={int(batch) * steps},val={batch}"
    spec = with_recipe(spec, data=data, batch_size=int(batch))
    device = torch.device(device_name)
    fitted = fit_to_data(spec, load_data(data, size=int(size)))
    loaders = make_loaders(fitted.data, batch_size=int(batch), augment=True, seed=0, device=device)
    cuda = device.type == "cuda"
    sampler = PeakResident()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        sampler.start()
        sampler.sampling.wait()
        before = status_bytes("RssAnon")
    began = time.perf_counter()
    engine = build_engine(build_model(fitted.spec), fitted.spec.train, device=device, steps_per_epoch=steps)
    by_step = []
    for _ in train_epoch(EagerStep(engine), loaders.train, epoch=0, meter=Meter(device)):
        if cuda:
            torch.cuda.synchronize()
        by_step.append((torch.cuda.max_memory_allocated(device) if cuda else sampler.peak) - before)
    seconds = time.perf_counter() - began
    sampler.running = False
    precision = "bf16" if engine.precision == torch.bfloat16 else "float32"
    estimate = footprint(fitted.spec, batch_size=int(batch), precision=precision, device=device.type)
    parts = {field: getattr(estimate, field) for field in
             ("params", "grads", "optimizer_state", "activations", "batch", "workspace", "allocator", "framework")}
    return {"row": row, "device": device.type, "precision": precision, "estimate": {**parts, "total": estimate.total},
            "by_step": by_step, "seconds": seconds}


def calibration(rows: list[Row]) -> list[str]:
    """Each row's measured memory beyond the estimate's tensors and framework, as a share of the kept tensors
    malloc's heap serves (what ALLOCATOR_SHARE stands for), as a markdown table (MiB)."""
    from archgen.analysis.footprint import ALLOCATOR_SHARE

    lines = ["| net | input | batch | tensors (estimate) | kept under 32 MiB | measured peak | "
             "beyond tensors + framework | share of kept under 32 MiB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        e = row.estimate
        tensors = e["total"] - e["allocator"] - e["framework"]
        heap = e["allocator"] / ALLOCATOR_SHARE["cpu"]
        beyond = row.measured - tensors - e["framework"]
        lines.append(f"| {row.spec} | {row.size}² | {row.batch} | {tensors / MIB:.0f} | {heap / MIB:.0f} | "
                     f"{row.measured / MIB:.0f} | {beyond / MIB:.0f} | {beyond / heap:.2f} |")
    return lines


def measure(row: str, *, steps: int = STEPS, device: str = "cpu", env: dict[str, str] | None = None) -> Row:
    """One row in a fresh process (with `env` added to its environment)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", row, "--steps", str(steps),
               "--device", device]
    result = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    child = json.loads(result.stdout.splitlines()[-1])
    name, size, batch = row.split(":")
    return Row(name, int(size), int(batch), child["device"], child["precision"], child["estimate"],
               max(child["by_step"]), tuple(child["by_step"]), child["seconds"])


def table(rows: list[Row]) -> list[str]:
    """The rows as a markdown table (MiB)."""
    lines = [
        "| net | input | batch | precision | params + grads + optimiser | activations | batch + workspace | "
        "allocator + framework | **estimate** | **measured peak** | **estimate / measured** | after step 1, 3, last |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        e = row.estimate
        steps = row.by_step
        settling = ", ".join(f"{steps[index] / MIB:.0f}" for index in sorted({0, min(2, len(steps) - 1),
                                                                            len(steps) - 1}))
        lines.append(
            f"| {row.spec} | {row.size}² | {row.batch} | {row.precision} | "
            f"{(e['params'] + e['grads'] + e['optimizer_state']) / MIB:.0f} | {e['activations'] / MIB:.0f} | "
            f"{(e['batch'] + e['workspace']) / MIB:.0f} | {(e['allocator'] + e['framework']) / MIB:.0f} | "
            f"**{e['total'] / MIB:.0f}** | **{row.measured / MIB:.0f}** | **{row.ratio:.3f}** | {settling} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", help=f"NET:SIZE:BATCH,… (default: {','.join(ROWS)}; on cuda {','.join(GPU_ROWS)})")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps per row (default {STEPS})")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--calibrate", action="store_true",
                        help=f"the calibration rows ({CALIBRATION_STEPS} steps each) and the allocator's share in each")
    parser.add_argument("--no-retention", action="store_true",
                        help=f"children run with {' '.join(f'{k}={v}' for k, v in NO_RETENTION.items())}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.child:
        print(json.dumps(_child(args.child, steps=args.steps, device_name=args.device)))
        return
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("not run: no CUDA GPU here (torch.cuda.is_available() is False)")
    default = CALIBRATION if args.calibrate else GPU_ROWS if args.device == "cuda" else ROWS
    rows = args.rows.split(",") if args.rows else list(default)
    steps = CALIBRATION_STEPS if args.calibrate and args.steps == STEPS else args.steps
    env = NO_RETENTION if args.no_retention else None
    results = []
    for row in rows:
        result = measure(row, steps=steps, device=args.device, env=env)
        results.append(result)
        print(f"{row}: estimate {result.estimate['total'] / MIB:.0f} MiB, measured {result.measured / MIB:.0f} MiB, "
              f"ratio {result.ratio:.3f} ({result.seconds:.0f} s)", file=sys.stderr, flush=True)
    print("\n".join(calibration(results) if args.calibrate else table(results)))


if __name__ == "__main__":
    main()
