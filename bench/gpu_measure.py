"""What one child process of the GPU bench measures: archgen's trainer on a case (images/s, and whether its steps ran
as CUDA graphs, from the trainer's own notes) and the plain PyTorch loops it is compared with. Each figure is written
to the JSON file as soon as it is measured, so a child cut by the budget leaves what it finished.

    python bench/gpu_measure.py row resnet20:128 --json parts.json      # archgen, plain loop, reduce-overhead loop
    python bench/gpu_measure.py archgen resnet20:128 --json parts.json  # archgen only (torchrun's ranks, side by side)

Run by bench/gpu_train.py, one child per row (or per training side by side); knows nothing of budgets or tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import archgen
from archgen.files import write_atomic
from archgen.training import EpochMetrics, Listener, RunPlan


@dataclass(frozen=True)
class Case:
    """A net at a batch size on synthetic images of `size`² and `classes` classes."""

    spec: str
    batch: int
    size: int = 32
    classes: int = 10
    seconds: float = 60.0
    """The row's estimated wall time (archgen, plain loop and reduce-overhead loop, start-up included) on one H200,
    an upper guess until measured; the budget skips a row whose estimate no longer fits. Rows report what they took."""

    @property
    def name(self) -> str:
        return f"{self.spec}:{self.batch}"


# the estimates: reduce-overhead's compile dominates (ResNet-50's had not finished after 130 s, shared/gpu/README.md)
GPU_CASES = (Case("resnet20", 128, seconds=90), Case("resnet20", 256, seconds=90), Case("resnet56", 128, seconds=180),
             Case("resnet110", 128, seconds=300), Case("resnet50-v1.5", 256, size=224, classes=1000, seconds=300))
DRY_CASES = (Case("resnet20", 16, seconds=20), Case("resnet50-v1.5", 4, size=64, classes=100, seconds=60))


def cases(dry_run: bool) -> tuple[Case, ...]:
    """The table's nets (dry run: toy sizes on CPU, the same code)."""
    return DRY_CASES if dry_run else GPU_CASES


# --- archgen's trainer, whole ------------------------------------------------------------------------------------


class Heard(Listener):
    """The epochs' speeds, and every note saying the steps ran eagerly: at the start (why a run cannot be captured)
    or mid-run (a capture that failed, after which the steps ran eagerly)."""

    def __init__(self) -> None:
        self.epochs: list[EpochMetrics] = []
        self.eager: list[str] = []

    def on_start(self, plan: RunPlan) -> None:
        self.eager += [note for note in plan.notes if "eagerly" in note]

    def on_note(self, note: str) -> None:
        self.eager.append(note)

    def on_epoch(self, metrics: EpochMetrics) -> None:
        self.epochs.append(metrics)

    def graphs(self, device: str) -> bool:
        """Whether every step ran as a CUDA graph, by the trainer's own account."""
        return device.startswith("cuda") and not self.eager


def archgen_speed(case: Case, device: str, *, steps: int, epochs: int) -> dict[str, Any] | None:
    """Median training images/s of the epochs after the first (which holds the capture), whether the steps ran as
    CUDA graphs, and the trainer's notes saying why not (None on torchrun's ranks but 0, which hear nothing)."""
    from archgen.training import train, with_recipe  # the trainer loads in the children that train, only

    data = f"synthetic:3x{case.size}x{case.size},classes={case.classes},train={case.batch * steps},val={case.batch}"
    spec = with_recipe(archgen.load_spec(case.spec), data=data, epochs=epochs, batch_size=case.batch)
    # The references crop and flip on the device as the paper's CIFAR augmentation does; so does archgen here, on
    # every row: the ImageNet recipes' views resize each image on the host (the data path, not the step, measured by
    # bench/streamed_loader.py).
    recipe = spec.train.model_copy(update={"augment": "cifar", "lighting": 0.0, "eval_resize": None,
                                           "eval_crop": "center"})
    heard = Heard()
    train(spec.model_copy(update={"train": recipe}), device=device, listener=heard)
    if not heard.epochs:
        return None
    speeds = [m.images_per_second for m in heard.epochs[1:]] or [heard.epochs[-1].images_per_second]
    return {"speed": statistics.median(speeds), "graphs": heard.graphs(device), "note": "; ".join(heard.eager)}


# --- the references: plain loops on the same net and data --------------------------------------------------------


def plain_speed(case: Case, device: torch.device, *, steps: int, warmup: int, mode: str | None) -> float:
    """A plain training loop's images/s: the archgen-compiled net, SGD, bf16 and channels_last on GPUs."""
    spec = archgen.load_spec(case.spec)
    net = spec.model_copy(update={"input": spec.input.model_copy(update={"size": case.size, "classes": case.classes})})
    gpu = device.type == "cuda"
    torch.manual_seed(0)
    model = archgen.build_model(net).to(device)
    layout = torch.channels_last if gpu else torch.contiguous_format
    model = model.to(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    stepper = torch.compile(model, mode=mode) if mode else model
    images = torch.randn(steps * case.batch, 3, case.size, case.size, device=device).contiguous(memory_format=layout)
    labels = torch.randint(case.classes, (steps * case.batch,), device=device)

    def step(index: int) -> None:
        batch = slice(index * case.batch, (index + 1) * case.batch)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=gpu):
            loss = F.cross_entropy(stepper(images[batch]), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for index in range(warmup):
        step(index % steps)
    _synchronize(device)
    began = time.perf_counter()
    for index in range(steps):
        step(index)
    _synchronize(device)
    return steps * case.batch / (time.perf_counter() - began)


def matmul_peak(device: torch.device, *, size: int, dtype: torch.dtype, repeats: int = 5) -> float:
    """FLOP/s of the best of a few (size x size) @ (size x size) products: bench/train_throughput.py's measure, kept
    here so that the GPU bench loads nothing of the CPU benches."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        _synchronize(device)
        began = time.perf_counter()
        a @ b
        _synchronize(device)
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the child's jobs ---------------------------------------------------------------------------------------------


def row(case: Case, out: Path, *, steps: int, epochs: int, dry_run: bool) -> None:
    """archgen's trainer, then the plain loop, then (on GPUs) the plain loop under reduce-overhead, each written to
    `out` as soon as measured."""
    device = torch.device("cpu" if dry_run else "cuda")
    parts: dict[str, Any] = {"archgen": archgen_speed(case, str(device), steps=steps, epochs=epochs)}
    _write(out, parts)
    parts["plain"] = plain_speed(case, device, steps=steps, warmup=3, mode=None)
    _write(out, parts)
    parts["compiled"] = None if dry_run else plain_speed(case, device, steps=steps, warmup=10, mode="reduce-overhead")
    _write(out, parts)


def archgen_only(case: Case, out: Path, *, steps: int, epochs: int, dry_run: bool) -> None:
    """archgen's trainer alone; under torchrun each rank trains on its own GPU (LOCAL_RANK) and rank 0 writes."""
    device = "cpu" if dry_run else f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    heard = archgen_speed(case, device, steps=steps, epochs=epochs)
    if heard is not None:
        _write(out, {"archgen": heard})


def _write(out: Path, parts: dict[str, Any]) -> None:
    write_atomic(out, json.dumps(parts).encode())


JOBS = {"row": row, "archgen": archgen_only}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("case", help="NET:BATCH, one of the table's cases")
    parser.add_argument("--json", type=Path, required=True, help="where the figures go, each as soon as measured")
    parser.add_argument("--steps", type=int, required=True, help="steps per epoch")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes")
    args = parser.parse_args()
    known = {case.name: case for case in cases(args.dry_run)}
    if args.case not in known:
        parser.error(f"unknown case {args.case!r}; the cases are {', '.join(known)}")
    torch.backends.cudnn.benchmark = True
    JOBS[args.job](known[args.case], args.json, steps=args.steps, epochs=args.epochs, dry_run=args.dry_run)


if __name__ == "__main__":
    main()
