"""`archgen spaces`: design spaces compared by the error EDFs of models sampled from each at matched complexity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archgen.cli.app import DeviceOption, ForceOption, JsonOption, app

if TYPE_CHECKING:
    from archgen.search import Band, Space

EDF_FILE = "edf.png"


@app.command()
def spaces(
    specs: Annotated[list[str], typer.Argument(
        metavar="SPEC", show_default=False,
        help="Two or more search specs (files or shipped names), each a design space: its [search] table's paths.")],
    samples: Annotated[int, typer.Option(
        "--samples", metavar="N", min=2, max=10_000, help="Models sampled from each space.")] = 20,
    macs: Annotated[str | None, typer.Option(
        "--macs", metavar="BAND", show_default=False,
        help="Sample only models with MACs in this band, LO..HI: 100k..400k (default: the band every space covers).")
    ] = None,
    params: Annotated[str | None, typer.Option(
        "--params", metavar="BAND", show_default=False,
        help="Sample only models with parameters in this band, LO..HI: 20k..60k (instead of --macs).")] = None,
    epochs: Annotated[int | None, typer.Option(
        "--epochs", "-e", metavar="N", min=1, show_default=False,
        help="Epochs each model trains (default: each space's search.epochs).")] = None,
    seed: Annotated[int, typer.Option(
        "--seed", metavar="N", min=0, help="Seed of the sampling, the bootstrap and each study's training.")] = 0,
    device: DeviceOption = "auto",
    workers: Annotated[int, typer.Option(
        "--workers", "-w", metavar="N", min=1, max=256,
        help="Processes per space's study on this machine, spread over its GPUs (cuda, auto).")] = 1,
    from_study: Annotated[list[Path] | None, typer.Option(
        "--from-study", metavar="DIR", file_okay=False, show_default=False,
        help="Reuse the finished trials of the study in DIR (repeat for several) whose point and recipe are a "
        "sampled model's.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", file_okay=False, show_default=False,
        help="Folder for each space's study (DIR/<space>/) and edf.png (default: runs/spaces-<spaces>/).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run/--no-dry-run", help="Show the sampled models and their complexities; train nothing.")] = False,
    force: ForceOption = False,
    json: JsonOption = False,
) -> None:
    """Compare design spaces as Radosavovic et al. (2019) do: models sampled uniformly from each search space in
    one complexity band, each trained under its space's recipe, and each space's error EDF.

    Sampling uses the exact analysis (nothing is built). Each space is a study of its own in DIR/<space>/, so
    the same command resumes where it stopped. Prints each space's best, 25th-percentile and median errors and
    the Kolmogorov-Smirnov distance between each pair of spaces with a 95% bootstrap interval, and writes the
    EDFs to edf.png.
    """
    from archgen import load_spec
    from archgen.errors import SearchError
    from archgen.search import parse_band, resolve_spec, sample_spaces

    if len(specs) < 2:
        raise typer.BadParameter(f"compares two search spaces or more; got one, {specs[0]!r}", param_hint="SPEC")
    if macs is not None and params is not None:
        raise typer.BadParameter("--macs and --params are two complexity bands; give one", param_hint="--params")
    try:
        band = None if macs is None and params is None else \
            parse_band(macs, "macs") if macs is not None else parse_band(params or "", "params")
    except SearchError as error:
        raise typer.BadParameter(str(error).split(": ", 1)[1], param_hint="--macs" if macs else "--params") from None
    loaded = [(spec, resolve_spec(load_spec(spec), epochs=epochs)) for spec in specs]
    chosen, sampled = sample_spaces(loaded, samples=samples, band=band, measure="params" if params else "macs",
                                    seed=seed)
    folder = out or Path("runs") / ("spaces-" + "-".join(spec.name for _, spec in loaded))[:64]
    if dry_run:
        _show_sampled(chosen, sampled, json=json)
        return
    _compare(chosen, sampled, folder, seed=seed, device=device, workers=workers, reuse=from_study or [],
             force=force, json=json)


def _show_sampled(band: Band, sampled: Sequence[Space], *, json: bool) -> None:
    from archgen.report.console import console
    from archgen.report.spaces import sampled_json, sampled_view

    if json:
        typer.echo(sampled_json(band, sampled), nl=False)
        return
    console().print(sampled_view(band, sampled))


def _compare(band: Band, sampled: Sequence[Space], folder: Path, *, seed: int, device: str, workers: int,
             reuse: list[Path], force: bool, json: bool) -> None:
    from archgen.report.console import console
    from archgen.report.spaces import comparison_json, comparison_view, edf_png
    from archgen.search import check_outputs, compare_spaces, write_outputs

    study = folder.name
    check_outputs(folder, [EDF_FILE], study=study, force=force)  # before any training
    shown = console(stderr=json)
    found = compare_spaces(band, sampled, out=folder, seed=seed, device=device, workers=workers, reuse=reuse,
                           on_note=lambda text: shown.print(text, markup=False, soft_wrap=True))
    written = write_outputs(folder, {EDF_FILE: edf_png(found)}, study=study, force=force)
    if json:
        typer.echo(comparison_json(found, written=[str(path) for path in written]), nl=False)
        return
    shown.print(comparison_view(found))
    shown.print(f"wrote {', '.join(str(path) for path in written)}", markup=False)
