"""Resident memory as the kernel counts it: a /proc/self/status field, a thread that samples this process's peak of
anonymous resident memory (RssAnon) while something runs, and the anonymous memory of a process and its children
(each shared page counted once). Shared by the memory tests' probe and the memory benchmarks.

RssAnon, not ru_maxrss: the peak RSS also counts torch's code pages, which the kernel drops and faults back in as
other processes need memory, hundreds of MB at a time on a busy machine.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def status_bytes(field: str) -> int:
    """A `Field: N kB` line of /proc/self/status, in bytes."""
    with open("/proc/self/status") as file:
        line = next(line for line in file if line.startswith(f"{field}:"))
    return int(line.split()[1]) * 1024


class PeakResident(threading.Thread):
    """The highest RssAnon seen while running, sampled every 0.2 ms (touching 100 MB takes the kernel over 10 ms)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.running, self.sampling = 0, True, threading.Event()

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, status_bytes("RssAnon"))
            self.sampling.set()
            time.sleep(0.0002)


def tree_pss_anon(pid: int) -> int:
    """Bytes of anonymous memory of `pid` and its descendants, each proportional to its sharers (Pss_Anon, summed):
    pages a forked worker still shares with its parent count once."""
    return sum(_pss_anon(each) for each in _tree(pid))


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                queue += [int(child) for child in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return pids


def _pss_anon(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        line = next(line for line in text.splitlines() if line.startswith("Pss_Anon"))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1]) * 1024
