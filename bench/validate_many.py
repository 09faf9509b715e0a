"""`archgen validate` on a thousand spec files: milliseconds per spec, against plain TOML parsing of the same files.

A seeded generator writes `--count` valid specs into a temporary folder: every shipped network spec (CIFAR,
ImageNet, pre-activation, digits) with random depths and widths, a quarter of them extending a shipped spec by
name and a quarter extending a generated sibling file. One `archgen validate FOLDER` subprocess is timed (its
exit code must be 0), against two references measured in the same run, in alternating order:

- start-up: the same command on ONE of those files (interpreter, imports, typer): the per-spec cost is
  (time for N - time for 1) / (N - 1);
- parsing: `tomllib.loads` of every file's text, in this process: what no validator can avoid.

    python bench/validate_many.py                  # 1000 specs, 5 repeats; ~1 minute on 2 cores
    python bench/validate_many.py --count 100 --repeats 2
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

import archgen
from archgen.spec import library
from archgen.spec.writer import dump_spec

SHIPPED = library.LIBRARY_ROOT


@dataclass(frozen=True)
class Validation:
    count: int
    """Spec files in the folder."""
    extending: int
    """How many of them use `extends` (a shipped name or a sibling file)."""
    folder_seconds: float
    """Median wall time of one `archgen validate FOLDER` subprocess."""
    one_seconds: float
    """Median wall time of `archgen validate ONE_FILE`: the command's start-up and one spec."""
    parse_seconds: float
    """Median time to read and `tomllib.loads` every file, in-process."""

    @property
    def per_spec_seconds(self) -> float:
        """What each further spec costs: the folder's time less start-up, over the other specs."""
        return (self.folder_seconds - self.one_seconds) / (self.count - 1)

    @property
    def parse_ratio(self) -> float:
        """Validation per spec as a multiple of only parsing its TOML."""
        return self.per_spec_seconds / (self.parse_seconds / self.count)

    @property
    def startup_share(self) -> float:
        return self.one_seconds / self.folder_seconds


def _network_specs() -> list[Path]:
    """The shipped specs of networks (search specs left out: their spaces are another language)."""
    return sorted(path for path in SHIPPED.rglob("*.toml") if "search" not in path.relative_to(SHIPPED).parts)


def _varied_body(base: archgen.NetSpec, rng: random.Random) -> dict[str, Any]:
    """New depths (and, for plain basic/bottleneck nets, a new width) for the base's stages."""
    stages = base.body.resolved_stages()
    deep = base.input.size <= 32  # CIFAR-sized nets are cheap at any depth; ImageNet nets stay shallow
    body: dict[str, Any] = {"depths": [rng.randint(1, 30 if deep else 4) for _ in stages]}
    if base.body.groups == 1 and base.body.width_per_group == 64:
        body["width"] = rng.choice([8, 16, 24, 32] if deep else [32, 48, 64])
    else:
        body["width"] = base.body.width
    return body


def generate(folder: Path, *, count: int, seed: int = 0) -> tuple[list[Path], int]:
    """Write `count` valid specs into `folder`; returns the files and how many use `extends`."""
    rng = random.Random(seed)
    bases = [archgen.load_spec(path) for path in _network_specs()]
    roots = {base.name for base, path in zip(bases, _network_specs(), strict=True)
             if "extends" not in tomllib.loads(path.read_text())}
    written: list[Path] = []
    standalone: list[tuple[Path, archgen.NetSpec]] = []
    extending = 0
    for index in range(count):
        base = bases[index % len(bases)]
        kind = index % 4
        if kind == 1 and base.name in roots:  # shipped specs that extend others cannot be extended from outside
            data: dict[str, Any] = {"extends": base.name, "body": _varied_body(base, rng)}
            if base.depth is not None:  # inherited, so it must be restated for the new depths
                data["depth"] = 2 + (3 if base.body.bottleneck else 2) * sum(data["body"]["depths"])
        elif kind == 2 and standalone:
            sibling, sibling_spec = rng.choice(standalone)
            data = {"extends": f"./{sibling.name}", "body": _varied_body(sibling_spec, rng)}
        else:  # the resolved spec written out whole (no extends), with new depths and width
            data = tomllib.loads(dump_spec(base))
            for key in ("depth", "reference"):  # facts about the original net, wrong for a variant
                data.pop(key, None)
            data["body"] = {**data["body"], **_varied_body(base, rng)}
        data["name"] = f"{base.name}-v{index:04d}"
        data["description"] = f"variant {index} of {base.name}"
        extending += "extends" in data
        path = folder / f"{data['name']}.toml"
        path.write_text(tomli_w.dumps(data))
        written.append(path)
        if "extends" not in data:
            standalone.append((path, base))
    return written, extending


def _validate(target: Path) -> float:
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "archgen", "validate", str(target)],
                            capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"archgen validate {target} exited {result.returncode}:\n{result.stdout[-2000:]}")
    return seconds


def _parse(files: list[Path]) -> float:
    began = time.perf_counter()
    for path in files:
        tomllib.loads(path.read_text())
    return time.perf_counter() - began


def measure(*, count: int = 1000, repeats: int = 5, seed: int = 0) -> Validation:
    """Generate the specs, then time the folder, one file and plain parsing in turns (the order alternating)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files, extending = generate(folder, count=count, seed=seed)
        _validate(folder)  # warm the page cache and check every file is valid before timing
        sides = [lambda: _validate(folder), lambda: _validate(files[0]), lambda: _parse(files)]
        times: list[list[float]] = [[], [], []]
        for repeat in range(repeats):
            order = range(3) if repeat % 2 == 0 else reversed(range(3))
            for side in order:
                times[side].append(sides[side]())
    folder_s, one_s, parse_s = (statistics.median(side) for side in times)
    return Validation(count=count, extending=extending, folder_seconds=folder_s, one_seconds=one_s,
                      parse_seconds=parse_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="spec files to generate (default 1000)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = measure(count=args.count, repeats=args.repeats, seed=args.seed)
    print(f"{result.count} valid specs ({result.extending} with extends), median of {args.repeats} repeats")
    print(f"archgen validate FOLDER   {result.folder_seconds * 1e3:8.0f} ms")
    print(f"archgen validate ONE      {result.one_seconds * 1e3:8.0f} ms   (start-up: "
          f"{result.startup_share:.0%} of the folder's time)")
    print(f"tomllib, every file       {result.parse_seconds * 1e3:8.0f} ms")
    print(f"per spec: {result.per_spec_seconds * 1e3:.2f} ms = {result.parse_ratio:.1f}x parsing its TOML")


if __name__ == "__main__":
    main()
