"""One data load, measured in a process of its own: `python memory_probe.py ROOM SETUP MEASURED`.

Runs SETUP (Python statements), then lowers the address-space limit (`ulimit -v`) to what is mapped now plus ROOM
bytes (0: no limit), then runs MEASURED. Prints one JSON object: every estimate archgen required (`estimates`,
`whats`), how far anonymous resident memory grew during MEASURED (`grew`: its peak, sampled every 0.2 ms, less what
was resident before), the ArchgenError line MEASURED ended with (`error`, or null), and MEASURED's variable `result`.

Anonymous memory only (RssAnon), not ru_maxrss: the peak RSS also counts torch's code pages, which the kernel drops
and faults back in as other processes need memory, hundreds of MB at a time on a busy machine. No allocation worth
measuring comes and goes within a sample: touching 100 MB takes the kernel over 10 ms.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))  # run as a script, not by pytest
from resident import PeakResident, status_bytes

import archgen.memory as memory
from archgen.errors import ArchgenError

estimates: list[int] = []
whats: list[str] = []
_require = memory.require


def _recording(needed: int, what: str) -> None:
    estimates.append(needed)
    whats.append(what)
    _require(needed, what)


def main(room: int, setup: str, measured: str) -> None:
    memory.require = _recording  # allocating() looks require up in its module, so every estimate passes here
    names: dict[str, Any] = {}
    exec(setup, names)
    sampler = PeakResident()
    sampler.start()
    sampler.sampling.wait()  # its stack and malloc arena are mapped before the limit, not amid the measured load
    if room:
        limit = status_bytes("VmSize") + room
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before, error = status_bytes("RssAnon"), None
    try:
        exec(measured, names)
    except ArchgenError as raised:
        error = str(raised)
    sampler.running = False
    sampler.join()
    grew = max(sampler.peak, status_bytes("RssAnon")) - before
    print(json.dumps({"estimates": estimates, "whats": whats, "grew": grew, "error": error,
                      "result": names.get("result")}))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
