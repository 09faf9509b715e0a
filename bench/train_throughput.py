"""Training throughput (images/s) of archgen on one machine, each figure a ratio against a reference run in the
same process on the same batches:

1. model:   archgen's compiled ResNet-20 vs the identical hand-written torchvision-style ResNet-20,
            both trained by archgen's trainer on archgen's data pipeline;
2. trainer: archgen's trainer (`archgen.training.train_epoch`, its device-side meter read once an epoch) vs a
            plain PyTorch loop (zero_grad, cross-entropy, backward, SGD step) over the same model and batches;
3. peak:    the fraction of the machine's matmul peak the training reaches, with training FLOPs taken as
            3 x forward FLOPs = 6 x the MACs `archgen.analyze` counts, and the peak measured with a big
            torch.matmul in the same run.

Repeats alternate the order of the two sides (A B, B A, …) so that load from other processes falls on both;
ratios are medians of per-repeat ratios, with their interquartile range.

    python bench/train_throughput.py                 # CPU, CIFAR-sized synthetic data; ~3 minutes on 2 cores
    python bench/train_throughput.py --device cuda --batch 256 --steps 50
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no spinning OpenMP threads on a shared machine (see docs)

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import archgen
from archgen.data import Loader, load_data, make_loaders
from archgen.data.loader import Batch
from archgen.spec.schema import Train
from archgen.training import Engine, EpochTotals, Meter, build_engine, train_epoch
from archgen.training.steps import EagerStep

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compiled_vs_torchvision import CifarResNet  # the hand-written torchvision-style CIFAR ResNet
from paired import Paired, alternate


class FirstSteps:
    """The first `steps` batches of every epoch of a loader (a short, fixed piece of work to time)."""

    def __init__(self, loader: Loader, steps: int) -> None:
        self.loader, self.steps, self.batch_size = loader, steps, loader.batch_size

    @property
    def samples(self) -> int:
        return self.steps * self.batch_size

    def __len__(self) -> int:
        return self.steps

    def batches(self, epoch: int, *, start: int = 0) -> Iterator[Batch]:
        for index, batch in enumerate(self.loader.batches(epoch, start=start)):
            if index + start >= self.steps:
                return
            yield batch


def archgen_trainer(model: nn.Module, loader: FirstSteps, recipe: Train, device: torch.device) -> Callable[[int], int]:
    engine: Engine = build_engine(model, recipe, device=device, steps_per_epoch=len(loader))
    meter = Meter(engine.device)

    def run(epoch: int) -> int:
        return epoch_of_steps(engine, loader, meter, epoch)

    return run


def epoch_of_steps(engine: Engine, loader: FirstSteps, meter: Meter, epoch: int) -> int:
    """One epoch of archgen's steps, its totals read back at the end (the trainer's cadence): images seen."""
    meter.begin(epoch, EpochTotals(), step=0)
    for _ in train_epoch(EagerStep(engine), loader, epoch=epoch, meter=meter):
        pass
    return round(meter.read(len(loader)).seen)


def plain_loop(model: nn.Module, loader: FirstSteps, recipe: Train, device: torch.device) -> Callable[[int], int]:
    """What one writes by hand: the same SGD, no schedule, no metrics."""
    model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)

    def run(epoch: int) -> int:
        seen = 0
        for images, labels in loader.batches(epoch):
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            seen += len(labels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return seen

    return run


def images_per_second(run: Callable[[int], int], epoch: int) -> float:
    began = time.perf_counter()
    seen = run(epoch)
    return seen / (time.perf_counter() - began)


def paired(first: Callable[[int], int], second: Callable[[int], int], *, repeats: int, warmup: int) -> Paired:
    """Images per second of both trainings in turns, each repeat a fresh epoch, after untimed warm-up epochs."""
    for epoch in range(warmup):
        first(epoch), second(epoch)
    return alternate(
        lambda repeat: images_per_second(first, warmup + repeat),
        lambda repeat: images_per_second(second, warmup + repeat),
        repeats=repeats,
    )


def matmul_peak(device: torch.device, *, size: int, dtype: torch.dtype, repeats: int = 5) -> float:
    """FLOP/s of the best of a few (size x size) @ (size x size) products."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best


@dataclass(frozen=True)
class Throughput:
    """Images per second of both comparisons (first = archgen) and the fraction of the matmul peak reached."""

    spec: str
    batch: int
    threads: int
    macs: int
    """Multiply-accumulates per image (archgen.analyze)."""
    model: Paired
    """archgen's compiled net vs the hand-written one, both under archgen's trainer (img/s; > 1 = archgen faster)."""
    trainer: Paired
    """archgen's trainer vs a plain PyTorch loop over the same net (img/s; > 1 = archgen faster)."""
    peak_flops: float
    """The best float32 (size x size) matmul measured in the same run (before, between, after), FLOP/s."""

    @property
    def training_flops(self) -> float:
        """FLOP/s archgen's trainer reached: 3 x forward = 6 x MACs per image (Kaplan et al. 2020's rule)."""
        return self.trainer.first * 6 * self.macs

    @property
    def peak_fraction(self) -> float:
        return self.training_flops / self.peak_flops


def measure(
    *,
    spec_name: str = "resnet20",
    batch: int = 128,
    steps: int = 8,
    repeats: int = 9,
    warmup: int = 1,
    device: str = "cpu",
    peak_size: int | None = None,
) -> Throughput:
    """Both paired comparisons and the matmul peak, on CIFAR-sized synthetic data."""
    where = torch.device(device)
    spec = archgen.load_spec(spec_name)
    recipe = Train(batch_size=batch, augment=True, mixed_precision=False, channels_last=False)
    data = load_data(f"synthetic:3x32x32,classes=10,train={max(8192, batch * steps)},val=64", size=32)
    loader = FirstSteps(make_loaders(data, batch_size=batch, augment=True, seed=0, device=where).train, steps)
    size = peak_size or (2048 if where.type == "cpu" else 8192)
    peaks = [matmul_peak(where, size=size, dtype=torch.float32)]  # before, between and after: load comes and goes
    torch.manual_seed(0)
    model = paired(archgen_trainer(archgen.build_model(spec), loader, recipe, where),
                   archgen_trainer(CifarResNet(3), loader, recipe, where), repeats=repeats, warmup=warmup)
    peaks.append(matmul_peak(where, size=size, dtype=torch.float32))
    torch.manual_seed(0)
    trainer = paired(archgen_trainer(archgen.build_model(spec), loader, recipe, where),
                     plain_loop(archgen.build_model(spec), loader, recipe, where), repeats=repeats, warmup=warmup)
    peak = max(*peaks, matmul_peak(where, size=size, dtype=torch.float32))
    return Throughput(spec=spec_name, batch=batch, threads=torch.get_num_threads(), macs=archgen.analyze(spec).macs,
                      model=model, trainer=trainer, peak_flops=peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="resnet20", help="archgen spec (CIFAR ResNet-20 = the hand-written net)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} · {args.device} · {torch.get_num_threads()} threads · "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} · batch {args.batch} · {args.steps} steps x "
          f"{args.repeats} repeats · {args.spec}", flush=True)
    result = measure(spec_name=args.spec, batch=args.batch, steps=args.steps, repeats=args.repeats,
                     warmup=args.warmup, device=args.device)
    model, trainer = result.model, result.trainer
    print(f"model    archgen {model.first:8.0f} img/s  hand-written {model.second:8.0f} img/s  "
          f"ratio {model.ratio:.3f} (IQR {model.ratio_iqr[0]:.3f}-{model.ratio_iqr[1]:.3f})")
    print(f"trainer  archgen {trainer.first:8.0f} img/s  plain loop   {trainer.second:8.0f} img/s  "
          f"ratio {trainer.ratio:.3f} (IQR {trainer.ratio_iqr[0]:.3f}-{trainer.ratio_iqr[1]:.3f})")
    print(f"peak     matmul {result.peak_flops / 1e9:8.1f} GFLOP/s (float32)  training "
          f"{result.training_flops / 1e9:6.1f} GFLOP/s = {result.peak_fraction:.1%} of peak "
          f"({result.macs:,} MACs/image)")


if __name__ == "__main__":
    main()
