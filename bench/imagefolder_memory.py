"""The hostile review's image folder, measured: 20,000 JPEGs of 256x256 trained with the shipped resnet18 spec.

  python bench/imagefolder_memory.py [--root /tmp/archgen-stream-bench] [--images 20000] [--seconds 420]

Before the folder loader estimated its memory and computed statistics in chunks at the data's precision, this drove
`archgen train` to a 22 GiB resident peak on a 24 GiB machine. This runs `archgen train resnet18 --data
imagefolder:FOLDER` as a user would (the spec's batch of 256; the folder fits the in-memory budget, so it is decoded
into memory), samples the anonymous memory of it and its workers (PSS, summed, every 50 ms) for --seconds, long
enough to decode the folder and run the first training steps, then stops it with SIGINT as Ctrl-C would. The
command runs under an address-space limit (`ulimit -v`), so a regression ends in archgen's one-line refusal, never
in the machine's OOM killer. Prints a Markdown report (write it to bench/imagefolder_memory.md with --out).
"""

from __future__ import annotations

import argparse
import platform
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
from resident import tree_pss_anon
from streamed_loader import SIDE, VAL, generate

from archgen import load_spec
from archgen.analysis import footprint

GiB = 2**30
ADDRESS_SPACE = 20 * GiB  # the child's `ulimit -v`: below the machine's 24 GiB, above torch's mapped libraries


def measure(folder: Path, *, seconds: float, out: Path) -> dict[str, object]:
    """Peak anonymous memory (bytes), when it was reached, and the lines `archgen train` printed."""
    command = [sys.executable, "-m", "archgen", "train", "resnet18", "--data", f"imagefolder:{folder}",
               "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE,) * 2))
    began, peak, peak_at, lines = time.perf_counter(), 0, 0.0, []
    minutes: list[int] = []  # the peak of each minute: does it level off once training runs?
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    while process.poll() is None and (elapsed := time.perf_counter() - began) < seconds:
        now = tree_pss_anon(process.pid)
        if now > peak:
            peak, peak_at = now, elapsed
        if int(elapsed // 60) >= len(minutes):
            minutes.append(0)
        minutes[-1] = max(minutes[-1], now)
        time.sleep(0.05)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    process.wait(timeout=300)
    reader.join(timeout=10)
    return {"peak": peak, "peak_at": peak_at, "minutes": minutes, "code": process.returncode,
            "lines": [line.rstrip() for line in lines]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/archgen-stream-bench"))
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=420)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    began = time.perf_counter()
    folder = generate(args.root, args.images)
    decoded = (args.images + VAL) * 3 * SIDE * SIDE
    spec = load_spec("resnet18")
    spec = spec.model_copy(update={"input": spec.input.model_copy(update={"size": SIDE, "classes": 10})})
    estimate = footprint(spec, batch_size=spec.train.batch_size).total
    result = measure(folder, seconds=args.seconds, out=args.root / "imagefolder-runs")
    peak = f"**{result['peak'] / GiB:.2f} GiB** (at {result['peak_at']:.0f} s)"  # type: ignore[operator]
    out = f" --out {args.out}" if args.out else ""
    ratio = f"{result['peak'] / (decoded + estimate):.2f}×"  # type: ignore[operator]
    by_minute = ", ".join(f"{value / GiB:.2f}" for value in result["minutes"])  # type: ignore[attr-defined]
    shown = "\n".join(f"    {line}" for line in result["lines"][-12:])  # type: ignore[index]
    report = f"""# An ImageNet-size image folder in memory

Written by `python bench/imagefolder_memory.py --images {args.images} --seconds {args.seconds:.0f}{out}`.

{args.images:,} training and {VAL} validation JPEGs of {SIDE}x{SIDE} (quality 90, 10 classes), on
{platform.machine()} with {torch.get_num_threads()} CPU threads, torch {torch.__version__}. `archgen train resnet18
--data imagefolder:FOLDER` (batch {spec.train.batch_size}) under `ulimit -v` {ADDRESS_SPACE // GiB} GiB, sampled for
{args.seconds:.0f} s, then stopped with SIGINT.

| measure | result |
|---|---|
| the images decoded (uint8, held in memory) | {decoded / GiB:.2f} GiB |
| archgen's estimate of one training step at {SIDE}² (`archgen build` at the spec's batch) | {estimate / GiB:.2f} GiB |
| **peak anonymous memory of `archgen train` and its workers (PSS, summed)** | {peak} |
| the measured peak against the images plus the step's estimate ({(decoded + estimate) / GiB:.2f} GiB) | {ratio} |
| the peak of each minute, from the start (GiB) | {by_minute} |
| the review's figure for the same folder and spec, before | 22 GiB resident |
| exit status after SIGINT | {result['code']} |

Total {time.perf_counter() - began:.0f} s. The last lines `archgen train` printed:

{shown}
"""
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
