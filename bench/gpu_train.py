"""The prepared GPU run: archgen's trainer against plain PyTorch loops measured in the same run, on the same GPU.

Every row trains an archgen-compiled net with `archgen.training.train` itself (synthetic CIFAR- or ImageNet-sized
images resident on the GPU, the paper's augmentation done there, bf16 autocast, channels_last, and each step
one CUDA graph where the run allows) and takes the median training images/s of the epochs after the first
(which holds the graph capture). Its references, on the same net, batch and precision with the data on the
GPU: a plain eager loop (zero_grad, cross-entropy, backward, SGD step; no augmentation) and the same loop with
the model under `torch.compile(mode="reduce-overhead")` (CUDA graphs of forward and backward). Each row gives
images/s, ms per step, the fraction of the bf16 matmul peak measured in the same run (training FLOPs =
6 x the MACs `archgen.analyze` counts) and the ratio to each reference. Then: the same ResNet-20 row under
`torchrun --nproc-per-node 1` (NCCL), and the aggregate images/s of 1, 2, 4 and 8 `archgen` trainings sharing
the GPU, each in its own process.

    python bench/gpu_train.py                      # the GPU table (needs CUDA; about 6 minutes on one H200)
    python bench/gpu_train.py --dry-run            # the same code paths on CPU at toy sizes (CI runs it)
    python bench/gpu_train.py --json results.json  # also write every figure as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

import archgen
from archgen.training import EpochMetrics, Listener, RunPlan, train, with_recipe

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
from train_throughput import matmul_peak  # noqa: E402  (the same peak measurement as the CPU bench)

CONCURRENT = (1, 2, 4, 8)


@dataclass(frozen=True)
class Case:
    spec: str
    batch: int
    size: int = 32
    classes: int = 10

    @property
    def name(self) -> str:
        return f"{self.spec}:{self.batch}"


def cases(dry_run: bool) -> list[Case]:
    if dry_run:  # toy sizes on CPU: the same code, nothing big
        return [Case("resnet20", 16), Case("resnet50-v1.5", 4, size=64, classes=100)]
    return [Case("resnet20", 128), Case("resnet20", 256), Case("resnet56", 128), Case("resnet110", 128),
            Case("resnet50-v1.5", 256, size=224, classes=1000)]


@dataclass(frozen=True)
class Row:
    case: Case
    how: str
    """one process, or torchrun."""
    archgen: float
    """archgen's trainer, training images/s."""
    plain: float | None
    """A plain eager loop on the same net and data (None: not measured in this row)."""
    compiled: float | None
    """The plain loop on torch.compile(mode="reduce-overhead")."""
    peak_fraction: float
    graphs: bool
    """Whether archgen's steps ran as CUDA graphs (else its note says why not)."""
    note: str = ""

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.case.batch / self.archgen


@dataclass(frozen=True)
class Concurrency:
    runs: int
    per_run: tuple[float, ...]
    """Each training's median images/s while the others ran beside it."""

    @property
    def aggregate(self) -> float:
        return sum(self.per_run)


@dataclass(frozen=True)
class GpuTable:
    device: str
    dtype: str
    peak_flops: float
    """The best (size x size) matmul in `dtype`, measured in the same run."""
    torch: str
    rows: tuple[Row, ...]
    concurrency: tuple[Concurrency, ...] = field(default=())


# --- archgen's trainer, whole ------------------------------------------------------------------------------------


class _Speeds(Listener):
    def __init__(self) -> None:
        self.epochs: list[EpochMetrics] = []
        self.notes: tuple[str, ...] = ()

    def on_start(self, plan: RunPlan) -> None:
        self.notes = plan.notes

    def on_epoch(self, metrics: EpochMetrics) -> None:
        self.epochs.append(metrics)


def archgen_speed(case: Case, device: str, *, steps: int, epochs: int) -> tuple[float, bool, str]:
    """(median training images/s of the epochs after the first, whether steps were CUDA graphs, the run's note)."""
    data = f"synthetic:3x{case.size}x{case.size},classes={case.classes},train={case.batch * steps},val={case.batch}"
    spec = with_recipe(archgen.load_spec(case.spec), data=data, epochs=epochs, batch_size=case.batch)
    # The references crop and flip on the device as the paper's CIFAR augmentation does; so does archgen here, on
    # every row: the ImageNet recipes' views resize each image on the host (the data path, not the step, measured by
    # bench/streamed_loader.py).
    recipe = spec.train.model_copy(update={"augment": "cifar", "lighting": 0.0, "eval_resize": None,
                                           "eval_crop": "center"})
    spec = spec.model_copy(update={"train": recipe})
    heard = _Speeds()
    train(spec, device=device, listener=heard)
    eager = [note for note in heard.notes if "eagerly" in note]
    speeds = [m.images_per_second for m in heard.epochs[1:]] or [heard.epochs[-1].images_per_second]
    return statistics.median(speeds), device.startswith("cuda") and not eager, "; ".join(eager)


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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- rows ---------------------------------------------------------------------------------------------------------


def measure_row(case: Case, device: torch.device, *, steps: int, epochs: int, peak: float, dry_run: bool) -> Row:
    speed, graphs, note = archgen_speed(case, str(device), steps=steps, epochs=epochs)
    plain = plain_speed(case, device, steps=steps, warmup=3, mode=None)
    compiled = None if dry_run else plain_speed(case, device, steps=steps, warmup=10, mode="reduce-overhead")
    macs = _macs(case)
    return Row(case, "one process", speed, plain, compiled, speed * 6 * macs / peak, graphs, note)


def _macs(case: Case) -> int:
    spec = archgen.load_spec(case.spec)
    return archgen.analyze(spec.model_copy(update={"input": spec.input.model_copy(
        update={"size": case.size, "classes": case.classes})})).macs


def torchrun_row(case: Case, reference: Row, *, steps: int, epochs: int, peak: float, dry_run: bool) -> Row:
    """The same case under `torchrun --nproc-per-node 1` (NCCL on GPUs, gloo on CPU): as fast as one process?"""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "row.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", str(HERE),
                   "--worker", case.name, "--steps", str(steps), "--epochs", str(epochs), "--json", str(out),
                   *(["--dry-run"] if dry_run else [])]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
        speed, graphs, note = json.loads(out.read_text())
    return Row(case, "torchrun, 1 process", speed, reference.plain, reference.compiled,
               speed * 6 * _macs(case) / peak, graphs, note)


def concurrency(case: Case, runs: int, *, steps: int, epochs: int, dry_run: bool) -> Concurrency:
    """`runs` trainings of `case` side by side, each its own process on the same device, started together."""
    with tempfile.TemporaryDirectory() as folder:
        outs = [Path(folder) / f"run{index}.json" for index in range(runs)]
        processes = [subprocess.Popen(
            [sys.executable, str(HERE), "--worker", case.name, "--steps", str(steps), "--epochs", str(epochs),
             "--json", str(out), *(["--dry-run"] if dry_run else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for out in outs]
        for process in processes:
            _, errors = process.communicate(timeout=1800)
            if process.returncode:
                raise RuntimeError(f"a concurrent run failed: {errors.strip().splitlines()[-1:]}")
        return Concurrency(runs, tuple(json.loads(out.read_text())[0] for out in outs))


def measure_table(*, dry_run: bool = False, steps: int | None = None, log: object = print) -> GpuTable:
    """Every row, the torchrun row and the concurrency table (dry run: toy sizes on the CPU)."""
    device = torch.device("cpu" if dry_run else "cuda")
    steps, epochs = steps or (3 if dry_run else 100), 2 if dry_run else 4
    torch.backends.cudnn.benchmark = True
    dtype = torch.float32 if dry_run else torch.bfloat16
    peak = matmul_peak(device, size=1024 if dry_run else 8192, dtype=dtype)
    log(HEADER)  # type: ignore[operator]
    rows = []
    for case in cases(dry_run):
        rows.append(measure_row(case, device, steps=steps, epochs=epochs, peak=peak, dry_run=dry_run))
        log(format_row(rows[-1]))  # type: ignore[operator]
    first = rows[0]
    rows.append(torchrun_row(first.case, first, steps=steps, epochs=epochs, peak=peak, dry_run=dry_run))
    log(format_row(rows[-1]))  # type: ignore[operator]
    log(f"\n{CONCURRENCY_HEADER}")  # type: ignore[operator]
    shared = []
    for runs in CONCURRENT[:2] if dry_run else CONCURRENT:
        shared.append(concurrency(first.case, runs, steps=steps * (1 if dry_run else 3), epochs=epochs,
                                  dry_run=dry_run))
        log(format_concurrency(shared[-1], shared[0]))  # type: ignore[operator]
    name = "CPU (dry run)" if dry_run else torch.cuda.get_device_name()
    return GpuTable(device=name, dtype=str(dtype).removeprefix("torch."), peak_flops=peak, torch=torch.__version__,
                    rows=tuple(rows), concurrency=tuple(shared))


# --- output -------------------------------------------------------------------------------------------------------

HEADER = ("| net | batch | how | archgen images/s | ms/step | of peak | × plain loop | × plain + reduce-overhead | "
          "CUDA graphs |\n|---|---:|---|---:|---:|---:|---:|---:|---|")
CONCURRENCY_HEADER = "| trainings on one device | aggregate images/s | × one training | each |\n|---:|---:|---:|---|"


def format_row(row: Row) -> str:
    plain = f"{row.archgen / row.plain:.2f}" if row.plain else "—"
    compiled = f"{row.archgen / row.compiled:.2f}" if row.compiled else "—"
    graphs = "yes" if row.graphs else f"no ({row.note})" if row.note else "no"
    return (f"| {row.case.spec} | {row.case.batch} | {row.how} | {row.archgen:,.0f} | {row.ms_per_step:.2f} | "
            f"{row.peak_fraction:.1%} | {plain} | {compiled} | {graphs} |")


def format_concurrency(shared: Concurrency, single: Concurrency) -> str:
    each = ", ".join(f"{speed:,.0f}" for speed in shared.per_run)
    return f"| {shared.runs} | {shared.aggregate:,.0f} | {shared.aggregate / single.aggregate:.2f} | {each} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on CPU, to check the script runs")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (default 100; dry run 3)")
    parser.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # one archgen training, for the others
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --dry-run to check the script on CPU")
    if args.worker is not None:
        spec, batch = args.worker.split(":")
        case = next(case for case in cases(args.dry_run) if case.spec == spec and case.batch == int(batch))
        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if not args.dry_run else "cpu"
        result = archgen_speed(case, device, steps=args.steps, epochs=args.epochs)
        if int(os.environ.get("RANK", "0")) == 0:
            args.json.write_text(json.dumps(result))
        return
    table = measure_table(dry_run=args.dry_run, steps=args.steps, log=lambda line: print(line, flush=True))
    print(f"\n{table.device} · torch {table.torch} · matmul peak {table.peak_flops / 1e12:.3g} TFLOP/s "
          f"({table.dtype})", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(table), indent=1))


if __name__ == "__main__":
    main()
