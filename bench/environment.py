"""The machine and software a benchmark run measured: what the README prints under its table.

Knows nothing of the benchmarks; reads the CPU model, versions, thread settings, git commit and load.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("torch", "torchvision", "optuna", "pydantic")


@dataclass(frozen=True)
class Environment:
    cpu: str
    cores: int
    threads: int
    """torch's intra-op threads."""
    omp_wait_policy: str
    python: str
    packages: tuple[tuple[str, str], ...]
    gpu: str | None
    commit: str
    started: str
    """UTC date and time the run began."""
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] | None = None
    seconds: float | None = None
    """Wall time of the whole run."""

    def finished(self, *, seconds: float) -> Environment:
        return replace(self, load_after=os.getloadavg(), seconds=seconds)

    def markdown(self) -> list[str]:
        """The environment as markdown bullet lines."""
        load = f"{_load(self.load_before)} before"
        if self.load_after is not None:
            load += f", {_load(self.load_after)} after"
        lines = [
            f"- machine: {self.cpu}, {self.cores} cores; GPU: {self.gpu or 'none'}",
            f"- software: Python {self.python}, " + ", ".join(f"{name} {ver}" for name, ver in self.packages),
            f"- settings: {self.threads} torch threads, OMP_WAIT_POLICY={self.omp_wait_policy}",
            f"- run: {self.started} UTC, commit {self.commit}"
            + ("" if self.seconds is None else f", {self.seconds / 60:.1f} minutes"),
            f"- load average (1, 5, 15 min): {load} — other processes on the machine share its cores",
        ]
        return lines


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.1f}" for value in load)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """The checkout's short commit, `+dirty` when tracked files differ from it."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "missing"


def capture() -> Environment:
    """The environment now (torch must be importable: its thread count and GPU are part of it)."""
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return Environment(
        cpu=cpu_model(), cores=os.cpu_count() or 0, threads=torch.get_num_threads(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "unset"), python=platform.python_version(),
        packages=tuple((name, _version(name)) for name in PACKAGES), gpu=gpu, commit=git_commit(),
        started=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"), load_before=os.getloadavg(),
    )
