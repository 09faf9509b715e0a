"""Layer responses as the paper's Fig. 7 draws them: standard deviations of the 3x3 layers' responses, in the
network's order (top) and ranked by magnitude (bottom), plain nets dashed and residual nets solid.

Draws and serialises what it is given (`archgen.training.responses.Responses`); computes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich import box
from rich.table import Table

from archgen.report.curves import png_of
from archgen.report.outside import markup, printable
from archgen.training.responses import Responses


def responses_json(runs: Sequence[Responses]) -> str:
    """One value per layer and run: {"runs": [{"run", "name", "residual", "layers": [{"layer", "std"}]}]}."""
    return json.dumps({"runs": [
        {"run": str(run.run), "name": run.name, "residual": run.residual,
         "layers": [{"layer": layer, "std": std} for layer, std in run.layers]}
        for run in runs
    ]}, indent=1) + "\n"


def responses_png(runs: Sequence[Responses], *, title: str | None = None) -> bytes:
    """The two panels of Fig. 7: std by layer index, and std sorted from the largest."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, (ordered, ranked) = plt.subplots(2, 1, figsize=(6.4, 6.0), dpi=100, sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, run in enumerate(runs):
        deviations = [std for _, std in run.layers]
        style = {"color": colours[index % len(colours)], "linestyle": "-" if run.residual else "--",
                 "linewidth": 1.4, "label": run.name}
        ordered.plot(range(1, len(deviations) + 1), deviations, **style)
        ranked.plot(range(1, len(deviations) + 1), sorted(deviations, reverse=True), **style)
    for axis, label in ((ordered, "layer index (original)"), (ranked, "layer index (sorted by magnitude)")):
        axis.set_xlabel(label)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel("std")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, frameon=False)
    return png_of(figure, title)


HEADERS = ("network", "3x3 layers", "mean std", "median std", "largest std")


def responses_rows(runs: Sequence[Responses]) -> list[tuple[str, ...]]:
    """Per run: its name, its 3x3 layers, and the mean, median and largest std over them."""
    rows: list[tuple[str, ...]] = []
    for run in runs:
        deviations = sorted(std for _, std in run.layers)
        median = deviations[len(deviations) // 2] if len(deviations) % 2 else \
            (deviations[len(deviations) // 2 - 1] + deviations[len(deviations) // 2]) / 2
        rows.append((run.name, str(len(deviations)), f"{sum(deviations) / len(deviations):.3f}", f"{median:.3f}",
                     f"{deviations[-1]:.3f}"))
    return rows


def responses_table(runs: Sequence[Responses]) -> Table:
    """The rows as a terminal table."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False)
    for index, header in enumerate(HEADERS):
        table.add_column(header, justify="right" if index else "left", overflow="fold")
    for row in responses_rows(runs):
        table.add_row(*(markup(cell) for cell in row))  # the name comes from a run's spec
    return table


def responses_markdown(runs: Sequence[Responses]) -> str:
    """The rows as a table for docs."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(printable(cell) for cell in row) + " |" for row in responses_rows(runs)]
    return "\n".join(lines) + "\n"
