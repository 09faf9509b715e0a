"""What the command line costs before it answers: CPU seconds of `archgen --help`, a mistyped `archgen train`
and `archgen validate` of every shipped spec, against Python itself measured in the same run.

Each command runs as a fresh process `--repeats` times, in turns with the references (so background load falls
on all alike); its CPU time is the child's user + system time (resource.getrusage), not wall time, so a busy
machine slows it less; the figure is the minimum over the repeats (start-up has no useful variance above it).
The references are `python -c pass` (the interpreter) and `python -c "import tomllib"` (the smallest useful
import); the goals of issue 18 are 0.3 s for --help and the typo, 0.5 s for validate.

    python bench/startup.py                 # 7 repeats; ~30 s on 2 cores
    python bench/startup.py --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHGEN = [sys.executable, "-m", "archgen"]
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    'python -c "import tomllib"': [sys.executable, "-c", "import tomllib"],
    "archgen --help": [*ARCHGEN, "--help"],
    "archgen train --data mnist": [*ARCHGEN, "train", "--data", "mnist"],
    "archgen train --set train.lr=-1": [*ARCHGEN, "train", "--set", "train.lr=-1"],
    "archgen validate specs/": [*ARCHGEN, "validate", str(ROOT / "archgen" / "specs")],
}
GOALS = {"archgen --help": 0.3, "archgen train --data mnist": 0.3, "archgen validate specs/": 0.5}


@dataclass(frozen=True)
class Startup:
    seconds: dict[str, float]
    """Each command's least CPU time (user + system) over the repeats."""
    repeats: int

    def ratio(self, command: str, reference: str) -> float:
        return self.seconds[command] / self.seconds[reference]


def cpu_seconds(command: list[str]) -> float:
    """The CPU time of one run of `command` in a child process (its exit code does not matter: refusals count)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, capture_output=True, cwd=ROOT, timeout=120, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(*, repeats: int = 7) -> Startup:
    seen: dict[str, list[float]] = {name: [] for name in COMMANDS}
    names = list(COMMANDS)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):  # alternate the order
            seen[name].append(cpu_seconds(COMMANDS[name]))
    return Startup({name: min(times) for name, times in seen.items()}, repeats)


def table(result: Startup) -> str:
    lines = ["| command | CPU s | × `python -c pass` | × `import tomllib` | goal |", "|---|---:|---:|---:|---:|"]
    for name, seconds in result.seconds.items():
        goal = f"≤ {GOALS[name]} s" if name in GOALS else ""
        lines.append(f"| `{name}` | {seconds:.3f} | {result.ratio(name, 'python -c pass'):.1f} | "
                     f"{result.ratio(name, 'python -c ' + chr(34) + 'import tomllib' + chr(34)):.1f} | {goal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(table(measure(repeats=args.repeats)))


if __name__ == "__main__":
    main()
