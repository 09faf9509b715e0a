#!/usr/bin/env python3
"""The paper's CIFAR-10 table on real data: plain-20, plain-56, ResNet-20, ResNet-56 and ResNet-110, each with the
paper's recipe (He et al. 2016, Sec. 4.2: 164 epochs, SGD 0.1, /10 at 50% and 75%, batch 128), trained side by
side on one GPU from the JPEG CIFAR-10 images, over as many short GPU slots as it takes, then docs/paper-cifar.md
written from the run folders: every net's final test error beside the paper's, the curves in the paper's style
(thin: training error, bold: test error), the training time, the machine, torch and the commit.

Each net is one run folder under --out. The same command starts the nets that have none and resumes
(`archgen train --resume`) those that are unfinished, side by side; at --budget seconds (or on SIGTERM/SIGINT) each
is asked to stop, checkpoints and exits, and the script exits 0 saying "N of 164 epochs" for each. A net that fails
stops the others the same way, and the script exits 1 naming it. Once every net is finished it writes the page.

    python scripts/paper_cifar.py --data data/cifar10                   # all five to the end, then the page
    python scripts/paper_cifar.py --data data/cifar10 --budget 420      # one GPU slot: start or continue, stop at 420 s
    python scripts/paper_cifar.py --nets resnet20 plain20 --budget 420  # only these nets
    python scripts/paper_cifar.py --pack DIR / --unpack DIR             # each run folder as DIR/<net>.tar.gz, to travel
    python scripts/paper_cifar.py --page-from runs/paper-cifar          # the page from finished run folders
    python scripts/paper_cifar.py --not-run                             # the page that says it was not run
    python scripts/paper_cifar.py --dry-run                             # CPU, 1 epoch on a generated image folder (CI)

`--data` is an image folder with `train/<class>/` and `test/<class>/`: unzip ../shared/data's zips into it. It must
stay at the same path for resumes (each run folder's spec.toml names it); docs/paper-cifar.md says how slots go.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from paper_cifar_page import NETS, PAGE, ROOT, write_not_run, write_page

from archgen.errors import ArchgenError

NAMES = tuple(spec for spec, _ in NETS)
PAPER_EPOCHS = 164
STOP_GRACE = 120.0  # seconds a net has, once asked to stop, to checkpoint and exit before it is killed
POLL = 0.5  # seconds between looks at the nets
# exit statuses of an `archgen train` that was asked to stop: 128 + the signal (it checkpointed first), or killed
# by the signal itself (asked before it could set up its handler: it restarts from its last checkpoint, if any)
STOPPED = {128 + signal.SIGTERM: "stopped, checkpointed", 128 + signal.SIGINT: "stopped, checkpointed",
           -signal.SIGTERM: "stopped before its first step", -signal.SIGINT: "stopped before its first step"}


class Failed(Exception):
    """A net that failed: the script stops the others and exits 1 with this message."""


# --- the nets' run folders ------------------------------------------------------------------------------------------


def run_folder(out: Path, spec: str) -> Path | None:
    """The newest run folder of `spec` under `out` (None: none yet)."""
    folders = sorted(path.parent for path in out.glob(f"{spec}-*/spec.toml"))
    return folders[-1] if folders else None


def finished(folder: Path | None) -> bool:
    return folder is not None and (folder / "weights.safetensors").is_file()


def progress(out: Path, spec: str, *, epochs: int) -> str:
    """`N of E epochs`, from the run folder's metrics.jsonl and spec.toml."""
    from archgen.training import read_metrics
    from archgen.training.record import read_run

    folder = run_folder(out, spec)
    if folder is None or not (folder / "metrics.jsonl").is_file():
        return f"0 of {epochs} epochs"
    return f"{len(read_metrics(folder))} of {read_run(folder).spec.train.epochs} epochs"


def commands(out: Path, nets: Sequence[str], *, data: str | None, device: str,
             epochs: int | None) -> dict[str, list[str]]:
    """`archgen train` for each unfinished net: resuming its run folder, or starting one (which needs the data)."""
    todo = {}
    for spec in nets:
        folder = run_folder(out, spec)
        if finished(folder):
            continue
        archgen = [sys.executable, "-m", "archgen", "train"]
        if folder is not None:
            todo[spec] = [*archgen, "--resume", str(folder), "--device", device]
        elif data is None:
            raise Failed(f"{spec} has no run folder in {out} yet: --data DIR is needed to start it")
        else:
            todo[spec] = [*archgen, str(ROOT / "specs" / "cifar" / f"{spec}.toml"), "--data", data, "--device", device,
                          "--out", str(out), *(["--epochs", str(epochs)] if epochs else [])]
    return todo


# --- training side by side until done, failed or out of time ----------------------------------------------------


@dataclass
class Running:
    spec: str
    process: subprocess.Popen[bytes]
    log: Path


def train_side_by_side(todo: dict[str, list[str]], out: Path, *, budget: float | None,
                       clock: Callable[[], float] = time.monotonic) -> dict[str, str]:
    """Every net in its own process, side by side; each one's ending, in the order they ended. At the budget (or on
    SIGTERM/SIGINT), or when one net fails, the others are asked to stop (SIGTERM: they checkpoint and exit)."""
    began, nets = clock(), []
    with _asked_to_stop() as asked:  # before the first start: no net is left running by a signal to this script
        for spec, command in todo.items():
            log = out / f"{spec}.log"  # appended to: one log over every slot
            with log.open("ab") as file:
                file.write(f"--- {_now()}: {' '.join(command)}\n".encode())
                file.flush()
                nets.append(Running(spec, subprocess.Popen(command, stdout=file, stderr=subprocess.STDOUT), log))
        return _supervise(nets, lambda: asked.reason or _over(clock() - began, budget), clock)


def _supervise(nets: list[Running], stop_reason: Callable[[], str | None],
               clock: Callable[[], float]) -> dict[str, str]:
    """Wait for every net; once a reason to stop appears (or a net fails), SIGTERM the rest, SIGKILL after a grace."""
    endings: dict[str, str] = {}
    asked_at: float | None = None
    killed = False
    while len(endings) < len(nets):
        for net in nets:
            code = net.process.poll()
            if code is not None and net.spec not in endings:
                endings[net.spec] = _ending(code, net.log, killed=killed)
        reason = stop_reason() or next((spec for spec, end in endings.items() if end.startswith("failed")), None)
        if reason is not None and asked_at is None:
            asked_at = clock()
            _signal_all(nets, signal.SIGTERM)
        if asked_at is not None and clock() - asked_at > STOP_GRACE and not killed:
            killed = True
            _signal_all(nets, signal.SIGKILL)
        time.sleep(POLL if len(endings) < len(nets) else 0)
    return endings


def _ending(code: int, log: Path, *, killed: bool) -> str:
    if code == 0:
        return "finished"
    if code in STOPPED:
        return STOPPED[code]
    if killed and code == -signal.SIGKILL:
        return f"killed: not stopped {STOP_GRACE:.0f} s after it was asked (it resumes from its last checkpoint)"
    return f"failed (exit {code}): {_last_line(log)}"


def _signal_all(nets: list[Running], number: signal.Signals) -> None:
    for net in nets:
        if net.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                net.process.send_signal(number)


def _over(elapsed: float, budget: float | None) -> str | None:
    return "the budget" if budget is not None and elapsed >= budget else None


class _Asked:
    reason: str | None = None


@contextlib.contextmanager
def _asked_to_stop() -> Iterator[_Asked]:
    """SIGTERM and SIGINT to this script (a slot's `timeout`, Ctrl-C) become a reason to stop the nets cleanly."""
    asked = _Asked()

    def handle(number: int, frame: FrameType | None) -> None:
        asked.reason = signal.Signals(number).name

    previous = {number: signal.signal(number, handle) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield asked
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- what travels between GPU slots -----------------------------------------------------------------------------


def pack(out: Path, into: Path, nets: Sequence[str]) -> list[Path]:
    """Each net's run folder and log as `into/<net>.tar.gz`, with its newest checkpoint only (all a resume reads), or
    none once the net is finished (its final weights are in the folder)."""
    into.mkdir(parents=True, exist_ok=True)
    packed = []
    for spec in nets:
        folder = run_folder(out, spec)
        if folder is None:
            continue
        checkpoints = sorted(folder.glob("checkpoints/step-*"))[:None if finished(folder) else -1]
        older = {f"{folder.name}/checkpoints/{path.name}" for path in checkpoints}

        def kept(info: tarfile.TarInfo, older: set[str] = older) -> tarfile.TarInfo | None:
            name = info.name.split("/")
            left_out = "/".join(name[:3]) in older or name[-1] == ".lock" or name[-1].endswith(".partial")
            return None if left_out else info

        with tarfile.open(into / f"{spec}.tar.gz", "w:gz") as tar:
            tar.add(folder, arcname=folder.name, filter=kept)
            if (out / f"{spec}.log").is_file():
                tar.add(out / f"{spec}.log", arcname=f"{spec}.log")
        packed.append(into / f"{spec}.tar.gz")
    return packed


def unpack(packs: Path, out: Path) -> list[str]:
    """What `pack` wrote, back into `out` (files of the same names are replaced); the nets unpacked."""
    out.mkdir(parents=True, exist_ok=True)
    nets = []
    for path in sorted(packs.glob("*.tar.gz")):
        try:
            with tarfile.open(path) as tar:
                tar.extractall(out, filter="data")  # nothing outside `out`, no links out of it
        except (tarfile.TarError, OSError) as error:
            raise Failed(f"{path}: cannot unpack it into {out} ({error})") from None
        nets.append(path.name.removesuffix(".tar.gz"))
    return nets


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


def found(out: Path) -> list[tuple[str, Path]]:
    """The finished run folder of each net under `out` that has one; Failed if none has."""
    runs = [(spec, folder) for spec in NAMES if (folder := run_folder(out, spec)) and finished(folder)]
    if not runs:
        raise Failed(f"no finished run folder of {', '.join(NAMES)} in {out}")
    return runs


# --- the command line -------------------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> int:
    """Start or continue the chosen nets until done or out of time; the page once every one is finished."""
    data = _dry_run_data(args.out / "data") if args.dry_run else \
        f"imagefolder:{args.data.resolve()}" if args.data is not None else None
    device = "cpu" if args.dry_run else args.device
    epochs = args.epochs or (1 if args.dry_run else None)
    todo = commands(args.out, args.nets, data=data, device=device, epochs=epochs)
    endings = train_side_by_side(todo, args.out, budget=args.budget) if todo else {}
    for spec in args.nets:
        print(f"{spec}: {progress(args.out, spec, epochs=epochs or PAPER_EPOCHS)} "
              f"({endings.get(spec, 'finished before')})", flush=True)
    failed = next((spec for spec, ending in endings.items() if ending.startswith("failed")), None)  # the first
    if failed is not None:
        raise Failed(f"archgen train {failed} {endings[failed]} (its log: {args.out / f'{failed}.log'}); the other "
                     "nets were asked to stop (each one's ending is above)")
    if not all(finished(run_folder(args.out, spec)) for spec in args.nets):
        print(f"unfinished: continue with the same command (run folders in {args.out})")
        return 0
    page = args.page or (args.out / "paper-cifar.md" if args.dry_run else PAGE)
    write_page(found(args.out), page, device=device)
    print(f"wrote {page} and its picture")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="an image folder with train/ and test/ (CIFAR-10's JPEGs)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "paper-cifar", help="where the run folders go")
    parser.add_argument("--nets", nargs="+", choices=NAMES, default=list(NAMES), metavar="NET",
                        help=f"the nets to train (default: all five: {', '.join(NAMES)})")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="ask every net to stop (checkpointed) this long after the start; it exits soon after")
    parser.add_argument("--epochs", type=int, default=None, help="for nets that start: override the paper's 164")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--pack", type=Path, metavar="DIR", help="write each run folder as DIR/<net>.tar.gz")
    parser.add_argument("--unpack", type=Path, metavar="DIR", help="unpack DIR/<net>.tar.gz into --out")
    parser.add_argument("--page-from", type=Path, help="write the page from finished run folders in this folder")
    parser.add_argument("--not-run", action="store_true", help="write the page that says it was not run")
    parser.add_argument("--dry-run", action="store_true", help="CPU, 1 epoch, generated images, the page in --out")
    parser.add_argument("--page", type=Path, default=None, help=f"the page to write, its picture in img/ beside it "
                        f"(default: {PAGE.relative_to(ROOT)}; dry run: in --out)")
    args = parser.parse_args()
    if args.budget is not None and args.budget < 0:
        parser.error(f"--budget must be at least 0 seconds, got {args.budget:g}")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data {args.data}: no such folder (CIFAR-10 as an image folder: train/ and test/)")
    try:
        if args.not_run:
            write_not_run(args.page or PAGE)
        elif args.page_from is not None:
            write_page(found(args.page_from), args.page or PAGE, device=args.device)
        elif args.pack is not None:
            for path in pack(args.out, args.pack, args.nets):
                print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB")
        elif args.unpack is not None:
            print(f"unpacked {', '.join(unpack(args.unpack, args.out)) or 'nothing'} into {args.out}")
        else:
            sys.exit(train(args))
    except (Failed, ArchgenError) as failure:  # a net that failed, or a run folder that cannot be read
        sys.exit(f"error: {failure}")


if __name__ == "__main__":
    main()
