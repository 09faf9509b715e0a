"""Resident memory as the kernel counts it for this process: a /proc/self/status field, and a thread that samples
the peak of anonymous resident memory (RssAnon) while something runs. Shared by the memory tests' probe and the
memory benchmarks.

RssAnon, not ru_maxrss: the peak RSS also counts torch's code pages, which the kernel drops and faults back in as
other processes need memory, hundreds of MB at a time on a busy machine.
"""

from __future__ import annotations

import threading
import time


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
