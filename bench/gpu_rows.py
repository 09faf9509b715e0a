"""The GPU table's rows, each measured by child processes (bench/gpu_measure.py) under the bench's budget: a net
against its plain-loop references, the same net under torchrun, and trainings side by side on one device. A row
that does not fit is skipped and named; one that fails or is cut keeps its child's output for the report.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_budget import Budget, Child, run_children
from gpu_measure import Case

import archgen

MEASURE = Path(__file__).resolve().parent / "gpu_measure.py"
TORCHRUN, SIDE_BY_SIDE = "torchrun", "side-by-side"
# estimated seconds (one H200, upper guesses; dry run: 2 CPU cores): torchrun's row, and each level of side by side
TORCHRUN_SECONDS = {False: 60.0, True: 25.0}
SIDE_BY_SIDE_SECONDS = {False: {1: 45.0, 2: 50.0, 4: 70.0, 8: 110.0}, True: {1: 15.0, 2: 20.0}}
REFERENCES = (("plain", "the plain loop"), ("compiled", "the reduce-overhead loop"))


@dataclass(frozen=True)
class Settings:
    """How every child measures: toy sizes on CPU or the GPU's, steps per epoch, epochs, and the matmul peak."""

    dry_run: bool
    steps: int
    epochs: int
    peak: float
    """FLOP/s of the best matmul in the run's precision, measured in the same run."""
    gpus: int = 1

    def command(self, job: str, case: Case, out: Path, *, steps: int | None = None) -> list[str]:
        return [str(MEASURE), job, case.name, "--json", str(out), "--steps", str(steps or self.steps),
                "--epochs", str(self.epochs), *(["--dry-run"] if self.dry_run else [])]


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
    """Whether archgen's steps ran as CUDA graphs, by the trainer's own notes (else the note says why not)."""
    note: str = ""
    seconds: float = 0.0
    """The row's wall time, its children's start to end: what the budget's estimate should be."""
    output: str = ""
    """The tail of its children's stdout and stderr."""

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.case.batch / self.archgen


@dataclass(frozen=True)
class Concurrency:
    runs: int
    per_run: tuple[float, ...]
    """Each training's median images/s while the others ran beside it."""
    seconds: float = 0.0
    output: str = ""

    @property
    def aggregate(self) -> float:
        return sum(self.per_run)


@dataclass(frozen=True)
class Failed:
    """A row that failed or was cut before its first figure: why, in one line, and its children's output."""

    name: str
    why: str
    output: str


def measure_row(case: Case, settings: Settings, budget: Budget) -> Row | Failed | None:
    """archgen's trainer on `case` against both references, in one child (None: skipped at the budget)."""
    if not budget.admits(case.name, case.seconds):
        return None
    ((child, parts),) = _measure([("row", case, settings.steps)], settings, budget)
    heard = parts.get("archgen")
    if heard is None:
        return Failed(case.name, child.why(), child.output)
    unfinished = [f"{label} {child.why()}" for key, label in REFERENCES if key not in parts]
    return Row(case, "one process", heard["speed"], parts.get("plain"), parts.get("compiled"),
               _peak_fraction(case, heard["speed"], settings), heard["graphs"],
               "; ".join(note for note in (heard["note"], *unfinished) if note), child.seconds, child.output)


def torchrun_row(case: Case, reference: Row | None, settings: Settings, budget: Budget) -> Row | Failed | None:
    """The same case under torchrun: two processes where there are two GPUs (or on the CPU, over gloo), so NCCL
    or gloo and DDP run; on one GPU, one process, a launch check only: NCCL refuses two ranks on one GPU."""
    if not budget.admits(TORCHRUN, TORCHRUN_SECONDS[settings.dry_run]):
        return None
    world = 2 if settings.dry_run or settings.gpus >= 2 else 1
    how = (f"torchrun, 2 processes (DDP over {'gloo' if settings.dry_run else 'NCCL'})" if world == 2 else
           "torchrun, 1 process: a launch check only (NCCL refuses two ranks on one GPU; no DDP)")
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(world)]
    ((child, parts),) = _measure([("archgen", case, settings.steps)], settings, budget, launcher=launcher)
    heard = parts.get("archgen")
    if heard is None:
        return Failed(TORCHRUN, child.why(), child.output)
    speed = heard["speed"]
    return Row(case, how, speed, reference.plain if reference else None, reference.compiled if reference else None,
               _peak_fraction(case, speed, settings, gpus=world if not settings.dry_run else 1), heard["graphs"],
               heard["note"], child.seconds, child.output)


def side_by_side(case: Case, settings: Settings, budget: Budget) -> list[Concurrency | Failed]:
    """1, 2, 4 and 8 trainings of `case` (dry run: 1 and 2), each its own process on the same device, started
    together; each level that no longer fits the budget is skipped and named."""
    levels: list[Concurrency | Failed] = []
    for runs, estimate in SIDE_BY_SIDE_SECONDS[settings.dry_run].items():
        name = f"{SIDE_BY_SIDE}:{runs}"
        if not budget.admits(name, estimate):
            continue
        steps = settings.steps * (1 if settings.dry_run else 3)
        measured = _measure([("archgen", case, steps)] * runs, settings, budget)
        speeds = [parts["archgen"]["speed"] for _, parts in measured if "archgen" in parts]
        output = "\n".join(child.output for child, _ in measured)
        if len(speeds) < runs:
            why = next(child.why() for child, parts in measured if "archgen" not in parts)
            levels.append(Failed(name, why, output))
        else:
            levels.append(Concurrency(runs, tuple(speeds), max(child.seconds for child, _ in measured), output))
    return levels


def _measure(jobs: Sequence[tuple[str, Case, int]], settings: Settings, budget: Budget, *,
             launcher: Sequence[str] = ()) -> list[tuple[Child, dict[str, Any]]]:
    """Run one measuring child per job side by side; each child's figures, as far as it got."""
    with tempfile.TemporaryDirectory() as folder:
        outs = [Path(folder) / f"{index}.json" for index in range(len(jobs))]
        commands = [[sys.executable, *launcher, *settings.command(job, case, out, steps=steps)]
                    for (job, case, steps), out in zip(jobs, outs, strict=True)]
        children = run_children(commands, budget)
        return [(child, json.loads(out.read_text()) if out.exists() else {})
                for child, out in zip(children, outs, strict=True)]


def _peak_fraction(case: Case, speed: float, settings: Settings, *, gpus: int = 1) -> float:
    """Training FLOP/s (6 x the MACs archgen.analyze counts, per image) over the matmul peak of the GPUs used."""
    spec = archgen.load_spec(case.spec)
    macs = archgen.analyze(spec.model_copy(update={"input": spec.input.model_copy(
        update={"size": case.size, "classes": case.classes})})).macs
    return speed * 6 * macs / (settings.peak * gpus)


# --- output -------------------------------------------------------------------------------------------------------

HEADER = ("| net | batch | how | archgen images/s | ms/step | of peak | × plain loop | × plain + reduce-overhead | "
          "CUDA graphs | row s | notes |\n|---|---:|---|---:|---:|---:|---:|---:|---|---:|---|")
CONCURRENCY_HEADER = ("| trainings on one device | aggregate images/s | × one training | each | row s |\n"
                      "|---:|---:|---:|---|---:|")


def format_row(row: Row) -> str:
    plain = f"{row.archgen / row.plain:.2f}" if row.plain else "—"
    compiled = f"{row.archgen / row.compiled:.2f}" if row.compiled else "—"
    return (f"| {row.case.spec} | {row.case.batch} | {row.how} | {row.archgen:,.0f} | {row.ms_per_step:.2f} | "
            f"{row.peak_fraction:.1%} | {plain} | {compiled} | {'yes' if row.graphs else 'no'} | {row.seconds:.0f} | "
            f"{row.note} |")


def format_concurrency(shared: Concurrency, single: Concurrency | None) -> str:
    each = ", ".join(f"{speed:,.0f}" for speed in shared.per_run)
    ratio = f"{shared.aggregate / single.aggregate:.2f}" if single else "—"
    return f"| {shared.runs} | {shared.aggregate:,.0f} | {ratio} | {each} | {shared.seconds:.0f} |"


def format_failed(failed: Failed) -> str:
    return f"- {failed.name} failed: {failed.why}"
