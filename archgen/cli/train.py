"""`archgen train`: train a spec on data into a run folder, or `--resume` a run; progress, table and curves.png.

Every argument, the spec with its overrides and the data source are checked before torch is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archgen.cli.app import DeviceOption, JsonOption, SetOption, app

if TYPE_CHECKING:
    from rich.console import Console

    from archgen.spec import NetSpec
    from archgen.training import TrainResult

DEFAULT_SPEC = "digits-resnet20"
EXIT_SIGNAL_BASE = 128  # a run stopped by signal N exits with 128 + N, as a shell reports it

DATA_HELP = (
    "What to train on (default: the spec's train.data, else digits): digits; cifar10:DIR (the CIFAR-10 python "
    "batches); imagefolder:DIR (DIR/train/<class>/ and DIR/val/ or test/; streamed from disk past 8 GiB); "
    "stream:DIR (the same, always streamed); wds:TRAIN,val=VAL (webdataset tar shards, brace patterns); "
    "synthetic[:CxHxW][,classes=K][,train=N][,val=N]. Channels and classes come from the data; images keep "
    "their size when the network's strides allow, else they are resized to the spec's input.size."
)


@app.command()
def train(
    spec: Annotated[str | None, typer.Argument(
        metavar="SPEC", show_default=False,
        help=f"A spec file or shipped spec name (default: {DEFAULT_SPEC}, a CIFAR ResNet-20 on the bundled digits).",
    )] = None,
    data: Annotated[str | None, typer.Option(
        "--data", "-d", metavar="DATA", help=DATA_HELP, show_default=False)] = None,
    epochs: Annotated[int | None, typer.Option(
        "--epochs", "-e", metavar="N", min=1, show_default=False, help="Epochs: --set train.epochs=N.")] = None,
    batch_size: Annotated[str | None, typer.Option(
        "--batch-size", "-b", metavar="N", show_default=False,
        help="Images per step over all processes: --set train.batch_size=N; or auto, the largest power of two "
        "whose estimated training memory fits on the device.",
        callback=lambda text: (_batch_size(text), text)[1])] = None,  # refused before anything is loaded
    lr: Annotated[float | None, typer.Option(
        "--lr", metavar="LR", show_default=False, help="Peak learning rate: --set train.lr=LR.")] = None,
    set: SetOption = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", metavar="N", min=0, show_default=False, help="Seed: --set train.seed=N (default: the spec's, 0).")
    ] = None,
    seeds: Annotated[str | None, typer.Option(
        "--seeds", metavar="SEEDS", show_default=False,
        help="Train one run folder per seed, each the run --seed K trains: a range (0-4) or a list (0,3,7). "
        "archgen compare shows them as one row, mean ± a 95% interval.",
        callback=lambda text: (seed_list(text), text)[1])] = None,  # refused before anything is loaded
    init: Annotated[Path | None, typer.Option(
        "--init", metavar="FILE", dir_okay=False, show_default=False,
        help="Start from these weights (fine-tuning): a safetensors file or a torchvision/timm state dict; another "
        "number of classes gets a new classifier. --set train.init=FILE (default: the spec's, else random).")] = None,
    device: DeviceOption = "auto",
    threads: Annotated[int | None, typer.Option(
        "--threads", metavar="N", min=1, max=1024, show_default=False,
        help="CPU threads torch computes with (default: chosen from the work, 1 for small nets and batches; "
        "OMP_NUM_THREADS, if set, is kept).")] = None,
    compile: Annotated[bool | None, typer.Option(
        "--compile/--no-compile", show_default=False, help="torch.compile the model in its default mode, or not "
        "(default: the spec's train.compile, which may also name a mode such as reduce-overhead).")] = None,
    out: Annotated[Path, typer.Option(
        "--out", "-o", metavar="DIR", file_okay=False, help="Folder the run folder is created in.")] = Path("runs"),
    resume: Annotated[Path | None, typer.Option(
        "--resume", metavar="RUN", file_okay=False, show_default=False,
        help="Continue this run folder from its newest good checkpoint, as its spec.toml says.")] = None,
    json: JsonOption = False,
) -> None:
    """Train a spec and write runs/<name>-<time>/: spec.toml, metrics.jsonl, checkpoints, weights, curves.png.

    Recipe defaults are the paper's CIFAR-10 recipe in the spec's [train] table; --set changes any field of the
    spec for this run (--epochs, --lr, --batch-size, --seed, --data and --init are short for --set of a train
    field) and the run folder's spec.toml records the result, so it retrains as is. Ctrl-C (or SIGTERM) writes a
    checkpoint and exits; --resume RUN continues, bitwise identically on CPU. Under
    `torchrun --nproc-per-node N -m archgen train ...` it trains with DDP. With --json the progress goes to
    stderr and stdout holds one JSON document of the result. --seeds 0-4 trains one run per seed, in turn.
    """
    from archgen.cli.inputs import NOT_TRAINED, check_data, check_file, spec_with

    _check_seeds(seeds, seed=seed, sets=set, resume=resume)
    if resume is not None and (spec or data or epochs or batch_size or lr or init or set or seed is not None):
        raise typer.BadParameter("--resume continues a run as its spec.toml says; give no spec or recipe options "
                                 "(to change them, train it as a new run: archgen train RUN/spec.toml)",
                                 param_hint="--resume")
    recipe = None
    if resume is None:
        if data is not None:
            check_data(data)  # a mistyped source answers before the spec is even read
        recipe = spec_with(spec or DEFAULT_SPEC, set, unused=NOT_TRAINED, aliases=[
            ("train.data", data, "--data"), ("train.epochs", epochs, "--epochs"),
            ("train.batch_size", _batch_size(batch_size), "--batch-size"), ("train.lr", lr, "--lr"),
            ("train.seed", seed, "--seed"), ("train.init", str(init) if init else None, "--init")])
        check_data(recipe.train.data)
        if recipe.train.init != "random":
            check_file(Path(recipe.train.init).expanduser(), "--init" if init else "train.init")
    from archgen.training.threads import prepare_threads

    prepare_threads(threads)  # before torch is imported: OpenMP reads its settings once
    documents = []
    for one in _seeded(recipe, seed_list(seeds)):  # one run, or one per --seeds seed: each the run its --seed trains
        result = _train(one, resume=resume, out=out, device=device, compile=compile, json=json,
                        auto_batch=batch_size == "auto")
        if result is not None:
            documents.append(_finish(result, json=json))
    if json and _main() and documents:  # one JSON document: the run's, or a list of the seeds' runs
        listed = "[" + ",\n".join(document.rstrip() for document in documents) + "]\n"
        typer.echo(documents[0] if seeds is None else listed, nl=False)


def seed_list(text: str | None) -> list[int] | None:
    """--seeds as the seeds it names: `A-B` (A to B, both included) or `A,B,C`; None when not given."""
    if text is None:
        return None
    start, dash, end = text.partition("-")
    parts = [start, end] if dash else text.split(",")
    if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
        raise typer.BadParameter(f"a range like 0-4 or a list like 0,3,7 of seeds (integers >= 0), got {text!r}",
                                 param_hint="--seeds")
    numbers = [int(part) for part in parts]
    if dash and numbers[0] > numbers[1]:
        raise typer.BadParameter(f"the range {text} runs downwards; write {numbers[1]}-{numbers[0]}",
                                 param_hint="--seeds")
    found = list(range(numbers[0], numbers[1] + 1)) if dash else numbers
    if len(set(found)) != len(found):
        raise typer.BadParameter(f"lists a seed twice: {text}", param_hint="--seeds")
    if len(found) > MAX_SEEDS:
        raise typer.BadParameter(f"{len(found):,} seeds is more than {MAX_SEEDS} runs; name fewer",
                                 param_hint="--seeds")
    return found


MAX_SEEDS = 1000


def _check_seeds(seeds: str | None, *, seed: int | None, sets: list[str] | None, resume: Path | None) -> None:
    """--seeds trains new runs from its own seeds: with --resume, --seed or --set train.seed it would contradict."""
    if seeds is None:
        return
    if resume is not None:
        raise typer.BadParameter("--resume continues one run from its own seed; --seeds trains new runs (give one)",
                                 param_hint="--seeds")
    if seed is not None or any(text.replace(" ", "").startswith("train.seed=") for text in sets or ()):
        raise typer.BadParameter("--seeds names every seed the runs train from; give it or --seed, not both",
                                 param_hint="--seeds")


def _seeded(recipe: NetSpec | None, seeds: list[int] | None) -> list[NetSpec | None]:
    if recipe is None or seeds is None:
        return [recipe]
    return [recipe.model_copy(update={"train": recipe.train.model_copy(update={"seed": seed})}) for seed in seeds]


def _train(recipe: NetSpec | None, *, resume: Path | None, out: Path, device: str, compile: bool | None,
           json: bool, auto_batch: bool) -> TrainResult | None:
    """The run, shown as it goes (on stderr with --json); None when a resumed run had nothing left to do."""
    from archgen.report.outside import markup
    from archgen.report.train import TrainDisplay
    from archgen.training import RunFinished, RunFolder, TrainingStopped, train, with_recipe

    console = _console(json=json)
    try:
        with TrainDisplay(console) as show:
            if recipe is None:
                assert resume is not None
                folder = RunFolder.open(resume)
                return train(folder.spec(), resume=folder, device=device, compile=compile, listener=show)
            return train(with_recipe(recipe), out=out, device=device, compile=compile, listener=show,
                         auto_batch=auto_batch)
    except TrainingStopped as stopped:
        console.print(f"[yellow]{markup(str(stopped))}[/yellow]")
        raise typer.Exit(EXIT_SIGNAL_BASE + stopped.signal_number if stopped.signal_number else 1) from None
    except RunFinished as finished:  # nothing to do is no error: the run is left exactly as it was
        console.print(markup(str(finished)))
        return None


def _batch_size(text: str | None) -> int | None:
    """--batch-size as a number; None for the spec's or for auto (which the trainer resolves on the device)."""
    if text is None or text == "auto":
        return None
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise typer.BadParameter(f"must be a positive integer or auto, got {text!r}", param_hint="--batch-size")
    return int(text)


def _finish(result: TrainResult, *, json: bool) -> str:
    """Show the run's table and write its curves; its JSON document (which the caller prints with --json)."""
    from archgen.errors import RunError
    from archgen.files import write_atomic
    from archgen.report.curves import curves_png
    from archgen.report.outside import markup
    from archgen.report.train import result_json, result_table
    from archgen.training import CURVES

    console = _console(json=json)
    console.print(result_table(result))
    written = ["spec.toml", "metrics.jsonl", "weights.safetensors"]
    if result.run_dir is not None:
        png = curves_png([(result.spec.name, result.history)], title=f"{result.spec.name} on {result.spec.train.data}")
        try:
            write_atomic(result.run_dir / CURVES, png)
            written.append(CURVES)
        except RunError as error:  # the run is complete and saved; only its picture is missing
            console.print(f"[yellow]warning: {markup(str(error))}[/yellow]")
        console.print(f"wrote {markup(str(result.run_dir))}/ ({', '.join(written)})")
    return result_json(result, written=written if result.run_dir is not None else []) if json else ""


def _console(*, json: bool) -> Console:
    from archgen.report.console import console

    # with --json, stdout holds the result alone; paths stay on one line (soft wrap)
    return console(stderr=json, quiet=not _main(), soft_wrap=True)


def _main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0  # under torchrun, only rank 0 speaks
