"""The prepared GPU run: archgen's trainer against plain PyTorch loops measured in the same run, on the same GPU,
in pieces that fit a short GPU slot.

Every row trains an archgen-compiled net with `archgen.training.train` itself (synthetic CIFAR- or ImageNet-sized
images resident on the GPU, the paper's augmentation done there, bf16 autocast, channels_last, and each step
one CUDA graph where the run allows) and takes the median training images/s of the epochs after the first
(which holds the graph capture); whether its steps ran as CUDA graphs comes from the trainer's own notes (a run
that cannot be captured, or a capture that failed mid-run). Its references, on the same net, batch and precision
with the data on the GPU: a plain eager loop and the same loop under `torch.compile(mode="reduce-overhead")`.
Each row gives images/s, ms per step, the fraction of the bf16 matmul peak measured in the same run (training
FLOPs = 6 x the MACs `archgen.analyze` counts), the ratio to each reference and its own wall time. Then: ResNet-20
under torchrun (two processes where there are two GPUs; on one, a launch check) and the aggregate images/s of 1,
2, 4 and 8 `archgen` trainings sharing the GPU. Each row runs in child processes (bench/gpu_measure.py), so the
budget can cut one, and a failure keeps its output.

    python bench/gpu_train.py                                   # every row (about 22 minutes on one H200, guessed)
    python bench/gpu_train.py --rows resnet20:128 torchrun      # chosen rows; `--rows` alone lists them
    python bench/gpu_train.py --budget 480                      # rows that no longer fit are skipped and named
    python bench/gpu_train.py --first-look --data DIR/cifar10   # a fresh slot's first look (5 minutes at most)
    python bench/gpu_train.py --dry-run [--first-look]          # the same code on CPU at toy sizes (CI runs it)
    python bench/gpu_train.py --json results.json               # also every figure and the children's output
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
from gpu_budget import Budget  # noqa: E402  (bench/ is no package: its modules import each other by path)
from gpu_measure import Case, cases, matmul_peak  # noqa: E402
from gpu_rows import (  # noqa: E402
    CONCURRENCY_HEADER,
    HEADER,
    SIDE_BY_SIDE,
    SIDE_BY_SIDE_SECONDS,
    TORCHRUN,
    TORCHRUN_SECONDS,
    Concurrency,
    Failed,
    Row,
    Settings,
    format_concurrency,
    format_failed,
    format_row,
    measure_row,
    side_by_side,
    torchrun_row,
)

Log = Callable[[str], object]


@dataclass(frozen=True)
class GpuTable:
    device: str
    dtype: str
    peak_flops: float
    """The best (size x size) matmul in `dtype`, measured in the same run."""
    torch: str
    rows: tuple[Row, ...]
    concurrency: tuple[Concurrency, ...] = field(default=())
    failed: tuple[Failed, ...] = ()
    """Rows that failed, or were cut at the budget before their first figure."""
    skipped: tuple[str, ...] = ()
    """Rows that no longer fitted the budget when their turn came, with their estimate and what was left."""
    budget: float | None = None


def row_estimates(dry_run: bool) -> dict[str, float]:
    """Every row's name and estimated seconds, in the order they run."""
    return {**{case.name: case.seconds for case in cases(dry_run)}, TORCHRUN: TORCHRUN_SECONDS[dry_run],
            SIDE_BY_SIDE: sum(SIDE_BY_SIDE_SECONDS[dry_run].values())}


def measure_table(*, dry_run: bool = False, steps: int | None = None, log: Log = print,
                  rows: Sequence[str] | None = None, budget: float | None = None) -> GpuTable:
    """The chosen rows (default: all), within `budget` seconds (None: no limit); dry run: toy sizes on the CPU."""
    clock, chosen = Budget(budget), set(rows or row_estimates(dry_run))
    device = torch.device("cpu" if dry_run else "cuda")
    dtype = torch.float32 if dry_run else torch.bfloat16
    settings = Settings(dry_run, steps or (3 if dry_run else 100), 2 if dry_run else 4,
                        matmul_peak(device, size=1024 if dry_run else 8192, dtype=dtype),
                        gpus=1 if dry_run else torch.cuda.device_count())
    log(HEADER)
    measured: list[Row] = []
    failed: list[Failed] = []
    for case in cases(dry_run):
        if case.name in chosen:
            _keep(measure_row(case, settings, clock), measured, failed, log)
    first = cases(dry_run)[0]  # torchrun and side by side train ResNet-20, compared with its row when measured
    if TORCHRUN in chosen:
        reference = next((row for row in measured if row.case == first), None)
        _keep(torchrun_row(first, reference, settings, clock), measured, failed, log)
    _log_failed(failed, log)
    shared = _side_by_side(first, settings, clock, failed, log) if SIDE_BY_SIDE in chosen else []
    if clock.skipped:
        log(f"\nskipped at the budget ({budget:.0f} s): {'; '.join(clock.skipped)}")
    name = "CPU (dry run)" if dry_run else torch.cuda.get_device_name()
    return GpuTable(device=name, dtype=str(dtype).removeprefix("torch."), peak_flops=settings.peak,
                    torch=torch.__version__, rows=tuple(measured), concurrency=tuple(shared), failed=tuple(failed),
                    skipped=tuple(clock.skipped), budget=budget)


def _side_by_side(case: Case, settings: Settings, budget: Budget, failed: list[Failed], log: Log) -> list[Concurrency]:
    """The side-by-side table: each level against one training alone."""
    log(f"\n{CONCURRENCY_HEADER}")
    levels = side_by_side(case, settings, budget)
    shared = [level for level in levels if isinstance(level, Concurrency)]
    single = next((level for level in shared if level.runs == 1), None)  # what "× one training" divides by
    for level in shared:
        log(format_concurrency(level, single))
    failed += [level for level in levels if isinstance(level, Failed)]
    _log_failed([level for level in levels if isinstance(level, Failed)], log)
    return shared


def _keep(result: Row | Failed | None, measured: list[Row], failed: list[Failed], log: Log) -> None:
    if isinstance(result, Row):
        measured.append(result)
        log(format_row(result))
    elif isinstance(result, Failed):
        failed.append(result)


def _log_failed(failed: Iterable[Failed], log: Log) -> None:
    for failure in failed:
        log(format_failed(failure))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on CPU, to check the script runs")
    parser.add_argument("--rows", nargs="*", metavar="NAME", default=None,
                        help="the rows to measure (default: all); alone, list them with their estimates")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="for the whole command: a step whose estimate no longer fits is skipped and named, one "
                             "still running when it runs out is cut (what it measured so far is kept)")
    parser.add_argument("--first-look", action="store_true",
                        help="archgen train resnet20 on CIFAR-10 for 2 epochs with CUDA graphs and without, the "
                             "CUDA tests and the resnet20 row (default budget: 300 s)")
    parser.add_argument("--data", type=Path, default=None, help="--first-look: CIFAR-10 (train/ and test/)")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (default 100; dry run 3)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args()
    estimates = row_estimates(args.dry_run)
    if args.rows == []:
        print("\n".join(f"{name}: about {seconds:.0f} s" for name, seconds in estimates.items()))
        return
    unknown = [name for name in args.rows or () if name not in estimates]
    if unknown:
        parser.error(f"--rows: no row named {unknown[0]!r}; the rows are {', '.join(estimates)}")
    if args.budget is not None and args.budget < 0:
        parser.error(f"--budget must be at least 0 seconds, got {args.budget:g}")
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data {args.data}: no such folder (CIFAR-10 as an image folder: train/ and test/)")
    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --dry-run to check the script on CPU")
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))  # children are killed on the way out
    if args.first_look:
        result: object = _first_look(args, parser)
    else:
        table = measure_table(dry_run=args.dry_run, steps=args.steps, rows=args.rows, budget=args.budget,
                              log=lambda line: print(line, flush=True))
        print(f"\n{table.device} · torch {table.torch} · matmul peak {table.peak_flops / 1e12:.3g} TFLOP/s "
              f"({table.dtype})", flush=True)
        result = table
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(result), indent=1))  # type: ignore[call-overload]


def _first_look(args: argparse.Namespace, parser: argparse.ArgumentParser) -> object:
    from gpu_first_look import BUDGET, first_look

    if args.rows is not None:
        parser.error("--first-look runs its own steps: give no --rows")
    if args.data is None and not args.dry_run:
        parser.error("--first-look needs --data DIR: CIFAR-10 as an image folder (DIR/train/, DIR/test/)")
    return first_look(args.data, dry_run=args.dry_run, budget=BUDGET if args.budget is None else args.budget,
                      log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
