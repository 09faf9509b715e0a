"""The paper's CIFAR-10 page (docs/paper-cifar.md), written from finished run folders only: each net's final test
error beside the paper's, the curves in the paper's style, the training time, the machine, torch and the commit; or
the page that says it was not run. Knows nothing of how the nets were trained.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
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

# how the table is trained over short GPU slots (the not-run page says it; the finished page needs it no more)
SLOTS = [
    "## Over several GPU slots",
    "",
    "A lent GPU comes as a slot of about 15 minutes, one command at most 10, and the table takes an estimated 30 to 60",
    "minutes of an H200: each net is a run folder that the next slot resumes, and `bench/gpu_slot.sh` runs a slot.",
    "",
    "1. Here, once: `bash bench/gpu_slot.sh prepare` writes `.gpu/` (ignored by git): the wheels the GPU's image",
    "   lacks, and CIFAR-10 packed by `../shared/gpu/pack_cifar.py` and gzipped (18.9 MB).",
    "2. On the GPU, each slot, with `.gpu` carried: `bash bench/gpu_slot.sh paper 420`. It unpacks the run folders the",
    "   last slot sent back (`.gpu/paper/`), starts or resumes every unfinished net side by side",
    "   (`scripts/paper_cifar.py --budget 420`), asks each to stop at 420 s (each checkpoints and exits), prints",
    "   `N of 164 epochs` for each, and packs each run folder into `$OUT/<net>.tar.gz`. A net that fails stops the",
    "   others the same way and the step exits 1 naming it; what the slot trained is packed all the same.",
    "3. Here, after each slot: `bash bench/gpu_slot.sh keep DIR`, DIR where the slot's files came back: the packs go",
    "   to `.gpu/paper/` for the next slot; once every net is finished, this page and its picture go to `docs/`.",
    "",
    "What travels between slots stays small: a packed run folder holds its newest checkpoint only (the weights and",
    "SGD's momentum, all a resume reads), its metrics, spec and log: 1.9 MiB for plain-20 and for ResNet-20, 6.1 MiB",
    "for plain-56 and for ResNet-56, 12.3 MiB for ResNet-110, 28.4 MiB for all five (measured on the CPU dry run,",
    "whose nets are these); a finished net's has its final weights instead, half that. With `.gpu/`'s 21 MiB and the",
    "checkout's 2, a slot carries about 52 MiB of the 64 it may.",
    "",
    "Without slots, `python scripts/paper_cifar.py --data data/cifar10` trains all five to the end, and the same",
    "command continues them after any stop (Ctrl-C or SIGTERM checkpoints every net first).",
    "",
]


def write_page(runs: list[tuple[str, Path]], page: Path, *, device: str) -> None:
    """The page from finished run folders, (net, folder) in NETS' order; its picture goes to img/ beside it."""
    import torch

    from archgen.files import write_atomic
    from archgen.report.curves import curves_png
    from archgen.training.record import read_run

    records = [read_run(folder) for _, folder in runs]
    curves = [(record.spec.name, record.history) for record in records]
    panels = ["plain" if not record.spec.body.residual else "ResNet" for record in records]
    picture = page.parent / "img" / PICTURE.name
    picture.parent.mkdir(exist_ok=True)
    write_atomic(picture, curves_png(curves, panels=panels, title="CIFAR-10 (JPEG), the paper's recipe"))
    papers, rows = dict(NETS), []
    for (spec, _), record in zip(runs, records, strict=True):
        final, paper = record.history[-1], papers[spec]
        paper_text = f"{paper:.2f}" if paper is not None else "Fig. 6 only (a plot)"
        gap = f"{100 * final.val_error - paper:+.2f}" if paper is not None else "—"
        rows.append(f"| {spec} | {len(record.history)} | {100 * final.train_error:.2f} | "
                    f"**{100 * final.val_error:.2f}** | {paper_text} | {gap} |")
    slowest = max(records, key=lambda record: sum(epoch.seconds for epoch in record.history))
    minutes = sum(epoch.seconds for epoch in slowest.history) / 60
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
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
        f"- training time: {minutes:.1f} minutes for {slowest.spec.name}, the slowest, with the others side by side "
        "(its epochs' own times summed: start-ups and the gaps between GPU slots left out); "
        f"machine: {_machine(device)}; torch {torch.__version__}; commit {_commit()}; {when}.",
        f"- {JPEG_NOTE}",
        "",
    ]).encode())


def write_not_run(page: Path) -> None:
    """The page that says the table was not run, with the command that runs it."""
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
        "the training time, the machine, torch and the commit. On short GPU slots, `--budget SECONDS` stops every net",
        "with a checkpoint and the same command continues them: see [Over several GPU slots](#over-several-gpu-slots).",
        "",
        f"- {JPEG_NOTE}",
        "",
        *SLOTS,
    ]).encode())


def _machine(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} ({os.cpu_count()} CPU cores)"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, no GPU"


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return result.stdout.strip() or "unknown"
