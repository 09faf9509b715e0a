"""`archgen train`: train a spec on data into a run folder, or `--resume` a run; progress, table and curves.png."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archgen.cli.app import app

if TYPE_CHECKING:
    from rich.console import Console

    from archgen.spec import NetSpec
    from archgen.training import TrainResult

DEFAULT_SPEC = "digits-resnet20"
EXIT_SIGNAL_BASE = 128  # a run stopped by signal N exits with 128 + N, as a shell reports it

DATA_HELP = (
    "What to train on (default: the spec's train.data, else digits): digits, cifar10:DIR, imagefolder:DIR "
    "(DIR/train/<class>/ and DIR/val/ or test/; streamed from disk past 8 GiB), stream:DIR (the same, always "
    "streamed), wds:TRAIN,val=VAL (webdataset tar shards, brace patterns), "
    "synthetic[:CxHxW][,classes=K][,train=N][,val=N]. "
    "Channels and classes come from the data; images keep their size when the network's strides allow, "
    "else they are resized to the spec's input.size."
)


@app.command()
def train(
    spec: Annotated[str | None, typer.Argument(
        help=f"A spec file or shipped spec name (default: {DEFAULT_SPEC}, a CIFAR ResNet-20 on the bundled digits).",
        show_default=False,
    )] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help=DATA_HELP, show_default=False)] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", "-e", help="Epochs (default: the spec's).", min=1)] = None,
    batch_size: Annotated[str | None, typer.Option(
        "--batch-size", "-b", help="Images per step over all processes (default: the spec's), or auto: the largest "
        "power of two whose estimated training memory fits on the device.", show_default=False,
        callback=lambda text: (_batch_size(text), text)[1])] = None,  # refused before anything is loaded
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (default: the spec's).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps.")] = "auto",
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the spec's, 0).", min=0)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder the run folder is created in.")] = Path("runs"),
    resume: Annotated[Path | None, typer.Option(
        "--resume", help="Continue this run folder from its newest good checkpoint, as its spec.toml says.")] = None,
    init: Annotated[Path | None, typer.Option(
        "--init", help="Start from these weights (fine-tuning): a safetensors file or a torchvision/timm state dict; "
        "another number of classes gets a new classifier (default: the spec's train.init, else random).",
        dir_okay=False, show_default=False)] = None,
    compile: Annotated[bool | None, typer.Option(
        "--compile/--no-compile", help="torch.compile the model in its default mode, or not (default: the spec's "
        "train.compile, which may also name a mode such as reduce-overhead).", show_default=False)] = None,
) -> None:
    """Train a spec and write runs/<name>-<time>/: spec.toml, metrics.jsonl, checkpoints, weights, curves.png.

    Recipe defaults are the paper's CIFAR-10 recipe in the spec's \\[train] table; the options override
    it for this run and the run folder's spec.toml records the result, so it retrains as is. Ctrl-C
    (or SIGTERM) writes a checkpoint and exits; `--resume RUN` continues, bitwise identically on CPU.
    Under `torchrun --nproc-per-node N -m archgen train …` it trains with DDP.
    """
    from archgen.report.train import TrainDisplay
    from archgen.training import RunFinished, RunFolder, TrainingStopped, train, with_recipe

    console = _console()
    if resume is not None and (spec or data or epochs or batch_size or lr or init or seed is not None):
        raise typer.BadParameter("--resume continues a run as its spec.toml says; give no spec or recipe options "
                                 "(to change them, train it as a new run: archgen train RUN/spec.toml)",
                                 param_hint="--resume")
    try:
        with TrainDisplay(console) as show:
            if resume is not None:
                folder = RunFolder.open(resume)
                result = train(folder.spec(), resume=folder, device=device, compile=compile, listener=show)
            else:
                recipe = with_recipe(_load(spec or DEFAULT_SPEC), data=data, epochs=epochs,
                                     batch_size=_batch_size(batch_size), lr=lr, seed=seed,
                                     init=str(init) if init else None)
                result = train(recipe, out=out, device=device, compile=compile, listener=show,
                               auto_batch=batch_size == "auto")
    except TrainingStopped as stopped:
        console.print(f"[yellow]{escape(str(stopped))}[/yellow]")
        raise typer.Exit(EXIT_SIGNAL_BASE + stopped.signal_number if stopped.signal_number else 1) from None
    except RunFinished as finished:  # nothing to do is no error: the run is left exactly as it was
        console.print(escape(str(finished)))
        return
    _finish(console, result)


def _batch_size(text: str | None) -> int | None:
    """--batch-size as a number; None for the spec's or for auto (which the trainer resolves on the device)."""
    if text is None or text == "auto":
        return None
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise typer.BadParameter(f"must be a positive integer or auto, got {text!r}", param_hint="--batch-size")
    return int(text)


def _load(spec: str) -> NetSpec:
    from archgen import load_spec

    return load_spec(spec)


def _finish(console: Console, result: TrainResult) -> None:
    from archgen.errors import RunError
    from archgen.files import write_atomic
    from archgen.report.curves import curves_png
    from archgen.report.train import result_table
    from archgen.training import CURVES

    console.print(result_table(result))
    if result.run_dir is None:
        return
    png = curves_png([(result.spec.name, result.history)], title=f"{result.spec.name} on {result.spec.train.data}")
    try:
        write_atomic(result.run_dir / CURVES, png)
    except RunError as error:  # the run is complete and saved; only its picture is missing
        console.print(f"[yellow]warning: {escape(str(error))}[/yellow]")
        console.print(f"wrote {escape(str(result.run_dir))}/ (spec.toml, metrics.jsonl, weights.safetensors)")
        return
    console.print(f"wrote {escape(str(result.run_dir))}/ (spec.toml, metrics.jsonl, weights.safetensors, {CURVES})")


def escape(text: str) -> str:
    """Text from outside archgen (paths, data names) shown literally: rich markup escaped, control characters too."""
    from rich.markup import escape as markup

    from archgen.errors import printable

    return markup(printable(text))


def _console() -> Console:
    from rich.console import Console

    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun, only rank 0 speaks
    return Console(quiet=not main, file=sys.stdout, soft_wrap=True)  # paths stay on one line
