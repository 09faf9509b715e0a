"""`archgen build`: a spec's stages, shapes, params and MACs (no torch), and with `--batch-size` its training memory;
`--export` compiles and writes it, with freshly initialised weights or a run's trained ones
(`--weights RUN/weights.safetensors`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from archgen.cli.app import ForceOption, JsonOption, PlainOption, Precision, SetOption, SpecArgument, app

if TYPE_CHECKING:
    from rich.console import Console

    from archgen.spec import NetSpec

ExportFormat = Literal["onnx", "torchscript", "exported-program"]


@app.command()
def build(
    spec: SpecArgument,
    set: SetOption = None,
    plain: PlainOption = False,
    blocks: Annotated[bool, typer.Option(
        "--blocks/--no-blocks", help="A row for every block, not only each stage.")] = False,
    json: JsonOption = False,
    export: Annotated[ExportFormat | None, typer.Option(
        "--export", show_default=False, help="Compile, write in this format and check against torch (needs --out).",
    )] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="FILE", dir_okay=False, show_default=False, help="File --export writes.")] = None,
    weights: Annotated[Path | None, typer.Option(
        "--weights", metavar="FILE", dir_okay=False, show_default=False,
        help="Export these trained weights (a run's weights.safetensors), not freshly initialised ones.")] = None,
    force: ForceOption = False,
    with_preprocessing: Annotated[bool, typer.Option(
        "--with-preprocessing/--without-preprocessing", help="With --weights: the normalisation inside the graph, "
        "so the export takes uint8 images (resizing and cropping stay outside, as the preprocessing it carries "
        "says).")] = False,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", "-b", metavar="N", min=1, max=65536, show_default=False,
        help="Also estimate the memory of training at this batch (per process): params, grads, optimiser state, "
        "activations kept for backward, total.")] = None,
    precision: Annotated[Precision, typer.Option(
        "--precision", help="The estimate's precision: float32 (as on a CPU) or bf16 (autocast on a GPU).",
    )] = "float32",
) -> None:
    """Print a spec's per-stage table: blocks, output shape, params and MACs (FLOPs = 2 x MACs).

    --set changes any field of the spec first (--set body.depths=[2,2,2] --set input.size=64). For a paper
    network, the published numbers are printed beside archgen's. With --batch-size, the estimated training
    memory follows the table (the recipe's optimiser). Never builds the net unless --export is given. Without
    --weights the export holds freshly initialised weights with BN statistics estimated on random inputs (so
    that even ResNet-1202's eval outputs are finite and the file can be checked against torch). An existing
    --out file is replaced only with --force.
    """
    from archgen import analyze
    from archgen.cli.inputs import NOT_BUILT, spec_with
    from archgen.report.build import build_json, build_report
    from archgen.spec.families import plain_counterpart

    if export is not None and out is None:
        raise typer.BadParameter("--export needs --out FILE", param_hint="--out")
    if weights is not None and export is None:
        raise typer.BadParameter("--weights is what --export writes; give --export FORMAT --out FILE too",
                                 param_hint="--weights")
    if with_preprocessing and weights is None:
        raise typer.BadParameter("--with-preprocessing puts a trained run's normalisation into the export; give "
                                 "--weights RUN/weights.safetensors too", param_hint="--with-preprocessing")
    if precision != "float32" and batch_size is None:
        raise typer.BadParameter("--precision is the memory estimate's; give --batch-size too",
                                 param_hint="--precision")
    if out is not None:
        from archgen.files import refuse_existing

        refuse_existing(out, force=force)  # before any work; the export checks again as it writes
    net = spec_with(spec, set, unused=NOT_BUILT)
    if plain:
        net = plain_counterpart(net)
    complexity = analyze(net)
    memory = None
    if batch_size is not None:
        from archgen.analysis.footprint import footprint

        gpu = precision == "bf16"  # the recipe's CUDA graphs hold a second step's memory on a GPU
        memory = footprint(net, batch_size=batch_size, precision=precision, device="cuda" if gpu else "cpu",
                           graphs=gpu and net.train.cuda_graphs)
    if json:
        typer.echo(build_json(complexity, net, memory=memory), nl=False)
    else:
        _console().print(build_report(complexity, net, blocks=blocks, memory=memory))
    if export is not None and out is not None:
        _export(net, export, out, weights=weights, quiet=json, force=force, with_preprocessing=with_preprocessing)


def _export(net: NetSpec, format: ExportFormat, out: Path, *, weights: Path | None, quiet: bool, force: bool,
            with_preprocessing: bool) -> None:
    """Compile (loading trained weights if given), write and check the export; torch is imported only here. Trained
    weights carry their run's preprocessing into the file (`archgen.inference.export_trained`)."""
    from archgen import build_model
    from archgen.compile.network import estimate_norm_statistics
    from archgen.errors import printable
    from archgen.export import export_model
    from archgen.inference import export_trained

    shape = (1, net.input.channels, net.input.size, net.input.size)
    carried = ""
    if weights is None:
        model = build_model(net)
        estimate_norm_statistics(model, (4, *shape[1:]))  # else very deep fresh nets overflow in eval mode
        result = export_model(model, format=format, out=out, input_shape=shape, replace=force)
    else:
        trained = export_trained(net, weights, format=format, out=out, with_preprocessing=with_preprocessing,
                                 replace=force)
        result = trained.result
        carried = ("; no preprocessing record to carry" if trained.record is None
                   else "; normalisation inside, takes uint8 images" if with_preprocessing
                   else "; carries its preprocessing")
    typer.echo(f"wrote {printable(str(result.path))} ({format}, {result.bytes:,} bytes; "
               f"max |export - torch| = {result.max_abs_diff:.2e}{carried})", err=quiet)


def _console() -> Console:
    from archgen.report.console import console  # imported here: `archgen validate` never pays for rich

    return console()
