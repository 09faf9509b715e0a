"""`archgen spaces` output: the models sampled from each space (`--dry-run`), each space's error table (best, 25th
percentile, median), the KS distances between spaces, and the error EDFs as a PNG in the style of Radosavovic et al.'s
figures (PNG bytes, which the caller writes).

Renders `archgen.search` values; computes nothing itself.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archgen.report.outside import markup
from archgen.search import Band, Comparison, Model, Space, amount

MAX_MODELS_SHOWN = 50  # per space, in a dry run


def sampled_view(band: Band, spaces: Sequence[Space]) -> RenderableType:
    """`--dry-run`: each space's sampled models with their exact complexities, and the band each space spans."""
    parts: list[RenderableType] = [Text(f"band: {band}", style="bold")]
    for space in spaces:
        table = Table(title=f"{markup(space.label)}: {len(space.models)} models", box=box.SIMPLE_HEAD,
                      title_justify="left", pad_edge=False, caption_justify="left",
                      caption=f"its valid models span {_span(band, space)}")
        for header in ("#", "architecture", "params", "MACs"):
            table.add_column(header, justify="left" if header == "architecture" else "right")
        for index, model in enumerate(space.models[:MAX_MODELS_SHOWN], start=1):
            table.add_row(str(index), model.architecture, f"{model.params:,}", f"{model.macs:,}")
        if len(space.models) > MAX_MODELS_SHOWN:
            table.caption = f"and {len(space.models) - MAX_MODELS_SHOWN} more; {table.caption}"
        parts.append(table)
    return Group(*parts)


def sampled_json(band: Band, spaces: Sequence[Space]) -> str:
    """`--dry-run --json`: the band and each space's sampled models."""
    document = {"band": {"measure": band.measure, "low": band.low, "high": band.high}, "spaces": [
        {"space": space.label, "span": list(space.span), "models": [_model(model) for model in space.models]}
        for space in spaces]}
    return json.dumps(document, indent=1) + "\n"


def _model(model: Model) -> dict[str, Any]:
    return {"point": model.point, "architecture": model.architecture, "params": model.params, "macs": model.macs}


def _span(band: Band, space: Space) -> str:
    what = "MACs" if band.measure == "macs" else "params"
    return f"{what} {amount(space.span[0])}..{amount(space.span[1])}"


def comparison_view(found: Comparison) -> RenderableType:
    """Each space's errors (best, 25th percentile, median, over its models), and the KS distance of each pair."""
    table = Table(title=f"validation error of the models sampled in {found.band}", box=box.SIMPLE_HEAD,
                  title_justify="left", pad_edge=False)
    for header in ("space", "models", "reused", "best", "25th pct", "median"):
        table.add_column(header, justify="left" if header == "space" else "right")
    for space in found.spaces:
        table.add_row(markup(space.space.label), str(len(space.errors)), str(space.reused), f"{space.best:.2%}",
                      f"{space.quartile:.2%}", f"{space.median:.2%}")
    distances = Table(title="Kolmogorov–Smirnov distance between the error EDFs (95% bootstrap interval)",
                      box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for header in ("space", "against", "KS", "interval"):
        distances.add_column(header, justify="right" if header in ("KS", "interval") else "left")
    for pair in found.distances:
        low, high = pair.ks.low or 0.0, pair.ks.high or 0.0
        distances.add_row(markup(pair.first), markup(pair.second), f"{pair.ks.mean:.3f}", f"{low:.3f}..{high:.3f}")
    return Group(table, distances, Text(f"in {found.seconds:.0f} s"))


def comparison_json(found: Comparison, *, written: Sequence[str] = ()) -> str:
    """`archgen spaces --json`: the band, each space's errors and summary, the distances, the files written."""
    document: dict[str, Any] = {
        "band": {"measure": found.band.measure, "low": found.band.low, "high": found.band.high},
        "spaces": [{"space": space.space.label, "study": space.space.spec.name, "errors": list(space.errors),
                    "reused": space.reused, "best": space.best, "quartile": space.quartile, "median": space.median,
                    "models": [_model(model) for model in space.space.models]}
                   for space in found.spaces],
        "distances": [{"space": pair.first, "against": pair.second, "ks": pair.ks.mean, "low": pair.ks.low,
                       "high": pair.ks.high} for pair in found.distances],
        "seconds": found.seconds, "written": list(written),
    }
    return json.dumps(document, indent=1) + "\n"


def edf_png(found: Comparison) -> bytes:
    """The error EDF of each space, as the RegNet papers draw them: the fraction of models with error below e, a step
    at each model's error; the legend gives each space's models and the title the KS distances."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    from archgen.statistics import edf

    figure, axes = plt.subplots(figsize=(6, 4))
    try:
        for index, space in enumerate(found.spaces):
            errors, fractions = edf([error * 100 for error in space.errors])
            axes.step([errors[0], *errors], [0.0, *fractions], where="post", color=f"C{index}",
                      label=f"{space.space.label} (n={len(errors)}, best {space.best:.1%})")
        distances = "; ".join(f"KS {pair.ks.mean:.2f} [{pair.ks.low or 0:.2f}, {pair.ks.high or 0:.2f}]"
                              for pair in found.distances[:2])
        axes.set(xlabel="validation error (%)", ylabel="cumulative fraction of models",
                 title=f"error EDFs at {found.band}\n{distances}", ylim=(0, 1.02))
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize=8)
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)
    return png.getvalue()
