"""One prepared GPU run: archgen's trainer on an accelerator, bf16 autocast and channels_last against float32,
torch.compile off and on; ResNet-20 on CIFAR-sized data and ResNet-50 on ImageNet-sized synthetic data.

Every row trains the archgen-compiled net with archgen's own engine and data pipeline (synthetic images
resident on the GPU, augmented there), times `--steps` steps after warm-up (compilation included in the
warm-up), and prints images/s, ms per step and the fraction of the bf16 matmul peak measured in the same run
(training FLOPs = 3 x forward = 6 x the MACs `archgen.analyze` counts). Under 8 minutes on one H200.

    python bench/gpu_train.py                      # the GPU table (needs CUDA)
    python bench/gpu_train.py --dry-run            # the same code path on CPU at toy sizes, in about a minute
    python bench/gpu_train.py --json results.json  # also write the rows as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import archgen
from archgen.data import load_data, make_loaders
from archgen.spec.schema import Train
from archgen.train import build_engine, train_epoch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import FirstSteps, matmul_peak  # the same step-limited loader and peak measurement


@dataclass(frozen=True)
class Case:
    spec: str
    data: str
    batch: int
    bf16: bool
    channels_last: bool
    compile: bool


@dataclass(frozen=True)
class Row:
    case: Case
    images_per_second: float
    ms_per_step: float
    peak_fraction: float


def cases(dry_run: bool) -> list[Case]:
    if dry_run:  # toy sizes on CPU: the same code, nothing big
        cifar, imagenet, small, large = "synthetic:3x32x32,train=64,val=8", "synthetic:3x64x64,train=16,val=4", 16, 4
    else:
        cifar, imagenet, small, large = ("synthetic:3x32x32,train=50000,val=256",
                                         "synthetic:3x224x224,classes=1000,train=4096,val=256", 256, 256)
    rows = []
    for spec, data, batch in (("resnet20", cifar, small), ("resnet50-v1.5", imagenet, large)):
        rows += [Case(spec, data, batch, bf16=False, channels_last=False, compile=False),
                 Case(spec, data, batch, bf16=True, channels_last=True, compile=False)]
        if not dry_run:
            rows.append(Case(spec, data, batch, bf16=True, channels_last=True, compile=True))
    return rows


def measure(case: Case, device: torch.device, *, steps: int, warmup: int, peak: float) -> Row:
    spec = archgen.load_spec(case.spec)
    data = load_data(case.data, size=spec.input.size)
    loader = make_loaders(data, batch_size=case.batch, augment=True, seed=0, device=device).train
    limited = FirstSteps(loader, min(steps, len(loader)))
    recipe = Train(batch_size=case.batch, mixed_precision=case.bf16, channels_last=case.channels_last,
                   compile=case.compile)
    model = archgen.build_model(spec.model_copy(update={"input": spec.input.model_copy(
        update={"classes": data.classes, "size": data.size})}))
    engine = build_engine(model, recipe, device=device, steps_per_epoch=len(limited))
    for epoch in range(warmup):  # compilation, cuDNN autotuning, allocator warm-up
        train_epoch(engine, limited, epoch=epoch)
    began = time.perf_counter()
    totals = train_epoch(engine, limited, epoch=warmup)
    seconds = time.perf_counter() - began
    speed = totals.seen / seconds
    macs = archgen.analyze(spec.model_copy(update={"input": spec.input.model_copy(update={"size": data.size})})).macs
    return Row(case, speed, 1000 * seconds / len(limited), speed * 6 * macs / peak)


@dataclass(frozen=True)
class GpuTable:
    device: str
    dtype: str
    peak_flops: float
    """The best (size x size) matmul in `dtype`, measured in the same run."""
    steps: int
    rows: tuple[Row, ...]

    def speedup(self, spec: str, *, compile: bool) -> float | None:
        """images/s of bf16 + channels_last (compiled or not) over eager float32, for one net."""
        base = [r for r in self.rows if r.case.spec == spec and not r.case.bf16]
        fast = [r for r in self.rows if r.case.spec == spec and r.case.bf16 and r.case.compile == compile]
        return fast[0].images_per_second / base[0].images_per_second if base and fast else None


def measure_table(
    *, dry_run: bool = False, steps: int | None = None, on_row: Callable[[Row], object] | None = None
) -> GpuTable:
    """Every case on CUDA (or, dry run, toy sizes on the CPU); `on_row` sees each row as it is measured."""
    device = torch.device("cpu" if dry_run else "cuda")
    steps = steps or (2 if dry_run else 50)
    torch.backends.cudnn.benchmark = True
    dtype = torch.float32 if dry_run else torch.bfloat16
    peak = matmul_peak(device, size=1024 if dry_run else 8192, dtype=dtype)
    rows = []
    for case in cases(dry_run):
        rows.append(measure(case, device, steps=steps, warmup=1 if dry_run else 3, peak=peak))
        if on_row is not None:
            on_row(rows[-1])
    name = "CPU (dry run)" if dry_run else torch.cuda.get_device_name()
    return GpuTable(device=name, dtype=str(dtype).removeprefix("torch."), peak_flops=peak, steps=steps,
                    rows=tuple(rows))


def format_row(row: Row) -> str:
    case = row.case
    return (f"| {case.spec} | {case.batch} | {'bf16' if case.bf16 else 'float32'} | {case.channels_last} | "
            f"{case.compile} | {row.images_per_second:,.0f} | {row.ms_per_step:.1f} | {row.peak_fraction:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on CPU, to check the script runs")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row (default 50; dry run 2)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --dry-run to check the script on CPU")
    print("| net | batch | precision | channels_last | compile | images/s | ms/step | of peak |\n"
          "|---|---:|---|---|---|---:|---:|---:|", flush=True)
    table = measure_table(dry_run=args.dry_run, steps=args.steps, on_row=lambda row: print(format_row(row), flush=True))
    print(f"{table.device} · torch {torch.__version__} · matmul peak {table.peak_flops / 1e12:.3g} TFLOP/s "
          f"({table.dtype}) · {table.steps} timed steps per row", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(row) for row in table.rows], indent=1))


if __name__ == "__main__":
    main()
