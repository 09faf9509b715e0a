#!/usr/bin/env python3
"""The paper's CIFAR-10 table on real data: plain-20, plain-56, ResNet-20, ResNet-56 and ResNet-110, each with the
paper's recipe (He et al. 2016, Sec. 4.2: 164 epochs, SGD 0.1, /10 at 50% and 75%, batch 128), trained side by
side on one GPU from the JPEG CIFAR-10 images, then docs/paper-cifar.md written from the run folders: every
net's final test error beside the paper's, the curves in the paper's style (thin: training error, bold: test
error), the wall time, the machine, torch and the commit.

    python scripts/paper_cifar.py --data data/cifar10           # on a GPU: train all five, then write the page
    python scripts/paper_cifar.py --page-from runs/paper-cifar  # write the page from finished run folders
    python scripts/paper_cifar.py --not-run                     # the page that says it was not run, with the command
    python scripts/paper_cifar.py --dry-run                     # CPU, 1 epoch on a generated image folder (CI)

`--data` is an image folder with `train/<class>/` and `test/<class>/`: unzip ../shared/data's zips into it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE, PICTURE = ROOT / "docs" / "paper-cifar.md", ROOT / "docs" / "img" / "paper-cifar.png"
# (spec, the paper's CIFAR-10 test error in %: Table 6 for ResNets; the plain nets' only in Fig. 6, as a plot)
NETS = (("plain20", None), ("plain56", None), ("resnet20", 8.75), ("resnet56", 6.97), ("resnet110", 6.43))
COMMAND = "python scripts/paper_cifar.py --data data/cifar10"
JPEG_NOTE = (
    "The images are the JPEG copies of ../shared/data, not the original PNG-equivalent batches. JPEG at 32x32 "
    "blurs the fine edges and adds block artefacts, which the net then learns to ignore: we expect test errors "
    "up to about a point above the paper's from that alone (an estimate, not measured here: measuring it needs "
    "the original batches, which this project does not have). Each net also ran once, with one seed; the paper "
    "reports ResNet-110 as its best of 5 runs (mean 6.61 ± 0.16)."
)


@dataclass(frozen=True)
class Trained:
    spec: str
    run: Path


def train_all(data: str, out: Path, *, epochs: int | None, device: str) -> tuple[list[Trained], float]:
    """Every net trained side by side, each its own `archgen train` process; (runs, wall seconds)."""
    out.mkdir(parents=True, exist_ok=True)
    began, processes = time.monotonic(), []
    for spec, _ in NETS:
        log = (out / f"{spec}.log").open("w")
        command = [sys.executable, "-m", "archgen", "train", str(ROOT / "specs" / "cifar" / f"{spec}.toml"),
                   "--data", data, "--device", device, "--out", str(out),
                   *(["--epochs", str(epochs)] if epochs else [])]
        processes.append((spec, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)))
    for spec, process in processes:
        if process.wait():
            sys.exit(f"archgen train {spec} failed: see {out / f'{spec}.log'}")
    return found(out), time.monotonic() - began


def found(out: Path) -> list[Trained]:
    """The newest run folder of each net under `out`."""
    runs = []
    for spec, _ in NETS:
        folders = sorted(path.parent for path in out.glob(f"{spec}-*/weights.safetensors"))
        if not folders:
            sys.exit(f"no finished {spec} run in {out}")
        runs.append(Trained(spec, folders[-1]))
    return runs


def write_page(runs: list[Trained], page: Path, *, seconds: float | None, device: str) -> None:
    import torch

    from archgen.files import write_atomic
    from archgen.report.curves import curves_png
    from archgen.training.record import read_run

    records = [read_run(trained.run) for trained in runs]
    curves = [(record.spec.name, record.history) for record in records]
    panels = ["plain" if not record.spec.body.residual else "ResNet" for record in records]
    picture = page.parent / "img" / PICTURE.name
    picture.parent.mkdir(exist_ok=True)
    write_atomic(picture, curves_png(curves, panels=panels, title="CIFAR-10 (JPEG), the paper's recipe"))
    rows = []
    for (spec, paper), record in zip(NETS, records, strict=True):
        final = record.history[-1]
        paper_text = f"{paper:.2f}" if paper is not None else "Fig. 6 only (a plot)"
        gap = f"{100 * final.val_error - paper:+.2f}" if paper is not None else "—"
        rows.append(f"| {spec} | {len(record.history)} | {100 * final.train_error:.2f} | "
                    f"**{100 * final.val_error:.2f}** | {paper_text} | {gap} |")
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    wall = f"{seconds / 60:.1f} minutes for all five side by side" if seconds else "see the run folders"
    write_atomic(page, "\n".join([
        "# The paper's CIFAR-10 table, measured",
        "",
        "Written by `scripts/paper_cifar.py` from real runs: every number below was measured, none is copied.",
        "",
        "| net | epochs | training error % | test error % | paper's test error % | difference |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "![curves](img/paper-cifar.png)",
        "",
        f"- wall time: {wall}; machine: {_machine(device)}; torch {torch.__version__}; commit {_commit()}; {when}.",
        f"- {JPEG_NOTE}",
        "",
    ]).encode())


def write_not_run(page: Path) -> None:
    from archgen.files import write_atomic

    write_atomic(page, "\n".join([
        "# The paper's CIFAR-10 table, measured",
        "",
        "**Not run yet.** It needs a CUDA GPU, which no session has had the time for: this page is written by",
        "`scripts/paper_cifar.py` from real runs only, and shows nothing it did not measure. To run it (CIFAR-10 from",
        "../shared/data unzipped into `data/cifar10/{train,test}/<class>/`):",
        "",
        "```",
        COMMAND,
        "```",
        "",
        "It trains plain-20, plain-56, ResNet-20, ResNet-56 and ResNet-110 side by side on one GPU with the paper's",
        "recipe and writes here each net's final test error beside the paper's (Table 6: ResNet-20 8.75%, ResNet-56",
        "6.97%, ResNet-110 6.43%; the plain nets appear only in Fig. 6, as curves), the curves in the paper's style,",
        "the wall time, the machine, torch and the commit.",
        "",
        f"- {JPEG_NOTE}",
        "",
    ]).encode())


def _machine(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} ({os.cpu_count()} CPU cores)"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, no GPU"


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return result.stdout.strip() or "unknown"


def _dry_run_data(folder: Path) -> str:
    """A tiny 10-class image folder of 32x32 PNGs with train/ and test/, as CIFAR-10's (for the CPU dry run)."""
    import numpy as np
    from PIL import Image

    generator = np.random.default_rng(0)
    for split, count in (("train", 8), ("test", 2)):
        for label in range(10):
            classes = folder / split / f"class{label}"
            classes.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = generator.integers(0, 256, (32, 32, 3), dtype=np.uint8) // (label + 1)
                Image.fromarray(pixels).save(classes / f"{index}.png")
    return f"imagefolder:{folder}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="an image folder with train/ and test/ (CIFAR-10's JPEGs)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "paper-cifar", help="where the run folders go")
    parser.add_argument("--epochs", type=int, default=None, help="override the paper's 164 (a quick look)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--page-from", type=Path, help="write the page from finished run folders in this folder")
    parser.add_argument("--not-run", action="store_true", help="write the page that says it was not run")
    parser.add_argument("--dry-run", action="store_true", help="CPU, 1 epoch, generated images, the page in --out")
    parser.add_argument("--page", type=Path, default=PAGE, help="the page to write (its picture goes to img/ beside)")
    args = parser.parse_args()
    if args.not_run:
        write_not_run(args.page)
    elif args.page_from is not None:
        write_page(found(args.page_from), args.page, seconds=None, device=args.device)
    elif args.dry_run:
        runs, seconds = train_all(_dry_run_data(args.out / "data"), args.out, epochs=1, device="cpu")
        write_page(runs, args.out / "paper-cifar.md", seconds=seconds, device="cpu")
        print(f"dry run: {len(runs)} nets trained side by side in {seconds:.0f} s; wrote {args.out / 'paper-cifar.md'}")
    else:
        if args.data is None:
            parser.error("--data DIR is needed to train (or --page-from, --not-run, --dry-run)")
        runs, seconds = train_all(f"imagefolder:{args.data.resolve()}", args.out, epochs=args.epochs,
                                  device=args.device)
        write_page(runs, args.page, seconds=seconds, device=args.device)
        print(f"wrote {args.page} and its picture ({seconds / 60:.1f} minutes)")


if __name__ == "__main__":
    main()
