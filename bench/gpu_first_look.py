"""A fresh GPU slot's first look, in under 6 minutes with the machine's start: `archgen train resnet20` on real
CIFAR-10 for 2 epochs with CUDA graphs and without, run as a user runs it (its run folder's summary.json says
whether the steps stayed captured), the CUDA tests, and the ResNet-20@128 row against its two references. Each step
is a child process under one budget: a step that no longer fits is named, one that fails keeps its output.

Run by `bench/gpu_train.py --first-look`; knows how to run and read each step, nothing of slots or wheels.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from gpu_budget import Budget, Child, run_children
from gpu_measure import cases, matmul_peak
from gpu_rows import HEADER, Failed, Row, Settings, format_failed, format_row, measure_row

import archgen
from archgen.spec.writer import dump_spec
from archgen.training import read_run

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 300.0  # seconds: with a machine's start (about 1 minute) and the slot's setup, under 6 minutes
EPOCHS = 2
CUDA_TESTS = "tests/training/test_cuda.py"
DRY_DATA = "synthetic:3x32x32,classes=10,train=32,val=16"  # the dry run's stand-in for CIFAR-10
# estimated seconds of each step (one H200, upper guesses: a run decodes CIFAR-10's 60,000 JPEGs first; dry: 2 cores)
TRAIN_SECONDS = {False: 60.0, True: 25.0}
TESTS_SECONDS = {False: 60.0, True: 25.0}


@dataclass(frozen=True)
class Trained:
    """One `archgen train` run, read back from its run folder."""

    label: str
    graphs: bool
    """summary.json's cuda_graphs: whether the steps were still one CUDA graph each when the run ended."""
    speeds: tuple[float, ...]
    """Training images/s of each epoch."""
    val_error: float
    seconds: float
    output: str


@dataclass(frozen=True)
class FirstLook:
    device: str
    torch: str
    data: str
    trained: tuple[Trained, ...]
    row: Row | None
    tests: str | None
    """pytest's summary line for the CUDA tests (None: not run)."""
    failed: tuple[Failed, ...]
    skipped: tuple[str, ...]
    budget: float
    tests_output: str = ""


def first_look(data: Path | None, *, dry_run: bool, budget: float, log: Callable[[str], object]) -> FirstLook:
    """The three answers a fresh slot gives first: training on real data, the tests, the step against plain loops."""
    clock, failed = Budget(budget), list[Failed]()
    source = DRY_DATA if dry_run or data is None else f"imagefolder:{data.resolve()}"
    # 1. archgen train resnet20 on the data, with CUDA graphs (its default) and without
    trained = _train_both(source, dry_run=dry_run, budget=clock, failed=failed)
    log(_trained_table(trained, source))
    # 2. the CUDA tests (skipped on a CPU, where they still collect): before the row, whose compile is long
    tests = _tests(clock, dry_run=dry_run, failed=failed)
    summary = _summary_line(tests) if tests is not None else None
    log(f"\nCUDA tests ({CUDA_TESTS}): {summary or 'not run'}")
    # 3. the ResNet-20 row against the plain loop and the plain loop under reduce-overhead (compiled last)
    row = _row(dry_run=dry_run, budget=clock, failed=failed)
    if row is not None:
        log(f"\n{HEADER}\n{format_row(row)}")
    for failure in failed:
        log(format_failed(failure))
    if clock.skipped:
        log(f"\nskipped at the budget ({budget:.0f} s): {'; '.join(clock.skipped)}")
    return FirstLook(device="CPU (dry run)" if dry_run else torch.cuda.get_device_name(), torch=torch.__version__,
                     data=source, trained=tuple(trained), row=row, tests=summary, failed=tuple(failed),
                     skipped=tuple(clock.skipped), budget=budget, tests_output=tests.output if tests else "")


def _train_both(source: str, *, dry_run: bool, budget: Budget, failed: list[Failed]) -> list[Trained]:
    """resnet20 trained with CUDA graphs and with cuda_graphs = false, each as `archgen train` runs it."""
    trained: list[Trained] = []
    with tempfile.TemporaryDirectory() as folder:
        runs = (("with CUDA graphs (the default)", "resnet20"), ("cuda_graphs = false", _eager_spec(Path(folder))))
        for index, (label, spec) in enumerate(runs):
            result = _train(label, spec, source, Path(folder) / f"runs{index}", dry_run=dry_run, budget=budget)
            if isinstance(result, Trained):
                trained.append(result)
            elif isinstance(result, Failed):
                failed.append(result)
    return trained


def _row(*, dry_run: bool, budget: Budget, failed: list[Failed]) -> Row | None:
    device, dtype = ("cpu", torch.float32) if dry_run else ("cuda", torch.bfloat16)
    settings = Settings(dry_run, 3 if dry_run else 100, 2 if dry_run else 4,
                        matmul_peak(torch.device(device), size=1024 if dry_run else 8192, dtype=dtype))
    row = measure_row(cases(dry_run)[0], settings, budget)
    if isinstance(row, Failed):
        failed.append(row)
    return row if isinstance(row, Row) else None


def _eager_spec(folder: Path) -> str:
    """resnet20 with cuda_graphs = false, as a spec file `archgen train` takes."""
    spec = archgen.load_spec("resnet20")
    eager = spec.model_copy(update={"name": "resnet20-eager",
                                    "train": spec.train.model_copy(update={"cuda_graphs": False})})
    path = folder / "resnet20-eager.toml"
    path.write_text(dump_spec(eager, defaults=True))
    return str(path)


def _train(label: str, spec: str, data: str, out: Path, *, dry_run: bool, budget: Budget) -> Trained | Failed | None:
    """`archgen train SPEC` for EPOCHS epochs in a child, read back from its run folder (None: skipped)."""
    if not budget.admits(f"archgen train ({label})", TRAIN_SECONDS[dry_run]):
        return None
    command = [sys.executable, "-m", "archgen", "train", spec, "--data", data, "--epochs", str(EPOCHS),
               "--out", str(out), *(["--device", "cpu", "--batch-size", "16"] if dry_run else ["--device", "cuda"])]
    (child,) = run_children([command], budget)
    folders = sorted(path.parent for path in out.glob("*/summary.json"))
    if not child.ok or not folders:
        return Failed(f"archgen train ({label})", child.why(), child.output)
    record = read_run(folders[-1])
    return Trained(label, record.summary.get("cuda_graphs") is True,
                   tuple(epoch.images_per_second for epoch in record.history), record.history[-1].val_error,
                   child.seconds, child.output)


def _tests(budget: Budget, *, dry_run: bool, failed: list[Failed]) -> Child | None:
    if not budget.admits("the CUDA tests", TESTS_SECONDS[dry_run]):
        return None
    (child,) = run_children([[sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", CUDA_TESTS]], budget,
                            cwd=ROOT)
    if not child.ok:
        failed.append(Failed(CUDA_TESTS, child.why(), child.output))
    return child


def _summary_line(child: Child) -> str:
    """pytest's last line (`3 passed in 9.81s`), or why there is none."""
    lines = [line.strip(" =") for line in child.output.splitlines() if line.strip(" =")]
    return lines[-1] if lines and child.returncode is not None else child.why()


def _trained_table(trained: list[Trained], source: str) -> str:
    lines = [f"| archgen train resnet20, {EPOCHS} epochs on {source} | CUDA graphs (summary.json) | "
             "images/s by epoch | test error | run s |", "|---|---|---:|---:|---:|"]
    for run in trained:
        speeds = ", ".join(f"{speed:,.0f}" for speed in run.speeds)
        lines.append(f"| {run.label} | {'yes' if run.graphs else 'no'} | {speeds} | {run.val_error:.1%} | "
                     f"{run.seconds:.0f} |")
    return "\n".join(lines)
