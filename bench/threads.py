"""The README's default `archgen train` and `archgen search`, at archgen's own thread choice against
OMP_NUM_THREADS=1 and 2 threads, on the machine as it is and beside 2 busy processes, in one run.

archgen picks torch's threads from the work (archgen/training/threads.py: 1 for the digits ResNet-20's 0.16 G
multiply-adds a step) and lets idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE); the issue's goal is that this
default is within 10% of the best of the three settings in both conditions. Each setting runs as a fresh
`archgen` process, the settings in turns (A B C, C B A, …) so that background load falls on all alike:

- train: `archgen train --epochs E --json` (digits-resnet20, the README's default, shortened); the figure is the
  median images/s of its epochs after the first (from the JSON document);
- search: `archgen search --trials T --epochs 2 --json` (digits-search); the figure is the mean seconds per
  trained epoch over its trials (their histories), which leaves out imports and the study's bookkeeping.

"Busy" adds two processes spinning a Python loop for the whole condition (a laptop doing other work): on 2 cores
every setting then shares its cores. The machine's load average is recorded before each condition: on a shared
machine, "as it is" is not idle, and the page says how loaded it was.

    python bench/threads.py                    # 3 repeats; ~10 minutes on 2 cores
    python bench/threads.py --repeats 1 --epochs 3 --trials 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SETTINGS = {  # name -> the environment it runs in (archgen's default sets nothing)
    "archgen's default": {},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
    "2 threads": {"OMP_NUM_THREADS": "2"},
}
CONDITIONS = ("as it is", "beside 2 busy processes")


@dataclass(frozen=True)
class Cell:
    workload: str
    condition: str
    setting: str
    values: tuple[float, ...]
    higher_is_better: bool
    load: float
    """The 1-minute load average when the condition began."""

    @property
    def median(self) -> float:
        return statistics.median(self.values)


def _environment(setting: str) -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("OMP_", "MKL_"))}
    return {**clean, **SETTINGS[setting]}


def _run(args: list[str], setting: str, folder: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "archgen", *args], capture_output=True, text=True, cwd=folder,
                          env=_environment(setting), timeout=1800, check=False)
    if done.returncode:
        raise RuntimeError(f"archgen {' '.join(args)} ({setting}) exited {done.returncode}: {done.stderr[-400:]}")
    return json.loads(done.stdout)


def train_speed(setting: str, folder: Path, *, epochs: int) -> float:
    """Median images/s of the epochs after the first."""
    result = _run(["train", "--epochs", str(epochs), "--json", "--out", str(folder / "runs")], setting, folder)
    history = result["history"]
    assert isinstance(history, list)
    return statistics.median(float(epoch["images_per_second"]) for epoch in history[1:])


def search_seconds(setting: str, folder: Path, *, trials: int, tag: str) -> float:
    """Mean seconds per trained epoch over the search's trials."""
    result = _run(["search", "--trials", str(trials), "--epochs", "2", "--json", "--seed", "0", "--study", tag,
                   "--storage", str(folder / f"{tag}.log"), "--out", str(folder / tag)], setting, folder)
    trials_run = result["trials"]
    assert isinstance(trials_run, list)
    epochs = [float(epoch["seconds"]) for trial in trials_run for epoch in trial["history"]]
    return sum(epochs) / len(epochs)


@contextlib.contextmanager
def busy(count: int) -> Iterator[None]:
    """`count` processes spinning a Python loop while the block runs, stopped after it (by their own ids)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def measure(*, repeats: int = 3, epochs: int = 4, trials: int = 4) -> list[Cell]:
    cells: list[Cell] = []
    names = list(SETTINGS)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        for condition in CONDITIONS:
            load = os.getloadavg()[0]
            with busy(2) if condition != CONDITIONS[0] else contextlib.nullcontext():
                speeds: dict[str, list[float]] = {name: [] for name in names}
                seconds: dict[str, list[float]] = {name: [] for name in names}
                for repeat in range(repeats):
                    for name in names if repeat % 2 == 0 else reversed(names):
                        speeds[name].append(train_speed(name, folder, epochs=epochs))
                        tag = f"s{len(cells)}-{repeat}-{names.index(name)}-{time.monotonic_ns()}"
                        seconds[name].append(search_seconds(name, folder, trials=trials, tag=tag))
                        print(f"{condition}, repeat {repeat + 1}, {name}: train {speeds[name][-1]:,.0f} img/s, "
                              f"search {seconds[name][-1]:.3f} s/epoch", file=sys.stderr, flush=True)
            cells += [Cell("train", condition, name, tuple(speeds[name]), True, load) for name in names]
            cells += [Cell("search", condition, name, tuple(seconds[name]), False, load) for name in names]
    return cells


def table(cells: list[Cell]) -> str:
    """One row per workload and condition: each setting's figure, and archgen's default against the best."""
    lines = ["| workload | condition (load before) | " + " | ".join(SETTINGS) + " | default ÷ best |",
             "|---|---|" + "---:|" * (len(SETTINGS) + 1)]
    for workload in ("train", "search"):
        for condition in CONDITIONS:
            row = {cell.setting: cell for cell in cells if (cell.workload, cell.condition) == (workload, condition)}
            if not row:
                continue
            first = next(iter(row.values()))
            better = max if first.higher_is_better else min
            best = better(cell.median for cell in row.values())
            default = row["archgen's default"].median
            score = default / best if first.higher_is_better else best / default
            unit = " img/s" if first.higher_is_better else " s/epoch"
            figures = " | ".join(f"{row[name].median:,.{0 if first.higher_is_better else 3}f}{unit}"
                                 for name in SETTINGS)
            lines.append(f"| {workload} | {condition} ({first.load:.1f}) | {figures} | {score:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each train run (the first is left out)")
    parser.add_argument("--trials", type=int, default=4, help="trials of each search run (2 epochs each)")
    args = parser.parse_args()
    began = time.monotonic()
    cells = measure(repeats=args.repeats, epochs=args.epochs, trials=args.trials)
    print(table(cells))
    print(f"\n{len(os.sched_getaffinity(0))} cores; {time.monotonic() - began:.0f} s; load average after: "
          f"{' / '.join(f'{load:.1f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
