"""`archgen evaluate`'s output: the errors (top-1, top-5), the per-class table, the confusion matrix as a PNG, or one
JSON document. Renders an `archgen.inference.Evaluation`; computes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archgen.report.outside import markup, printable

if TYPE_CHECKING:
    from archgen.inference import Evaluation

MAX_ROWS = 50  # classes listed in the table; past it, the worst ones (the JSON holds all)
MAX_PNG = 50  # classes a confusion-matrix PNG is drawn for
MAX_ANNOTATED = 20  # classes whose cells carry their counts


def evaluation_report(evaluation: Evaluation, *, run: Path) -> RenderableType:
    """The summary lines, the per-class table, and what was noted and written."""
    e = evaluation
    crop = "ten crops" if e.crop == "ten" else "centre crop"
    lines = [Text(f"{printable(run.name)} on {printable(e.data)} · {e.split} split · {e.images:,} images · {crop}",
                  style="bold")]
    recorded = "" if e.recorded is None else \
        f"   (the run's recorded final validation error: {e.recorded:.2%}, {_equal(e.error, e.recorded)})"
    lines.append(Text(f"top-1 error  {e.error:7.2%}{recorded}"))
    if e.top5_error is not None:
        lines.append(Text(f"top-5 error  {e.top5_error:7.2%}"))
    lines.append(Text(f"loss         {e.loss:.4f}"))
    parts: list[RenderableType] = [*lines, Text(""), class_table(e)]
    parts += [Text(f"note: {printable(note)}", style="yellow") for note in e.notes]
    return Group(*parts)


def _equal(error: float, recorded: float) -> str:
    return "equal" if error == recorded else f"differs by {error - recorded:+.4%}"


def class_table(evaluation: Evaluation) -> Table:
    """Per class: images, error, and the class its images were most often taken for."""
    e = evaluation
    order = list(range(len(e.class_names)))
    title = None
    if len(order) > MAX_ROWS:  # the worst classes first, the JSON holds every one
        order = sorted(order, key=lambda index: -(e.class_errors[index] or 0.0))[:MAX_ROWS]
        title = f"the {MAX_ROWS} classes of highest error, of {len(e.class_names):,} (--json lists all)"
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False,
                  title=title)
    for header, justify in (("class", "left"), ("images", "right"), ("error", "right"),
                            ("most often taken for", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for index in order:
        error = e.class_errors[index]
        table.add_row(markup(e.class_names[index]), f"{e.class_images[index]:,}",
                      "–" if error is None else f"{error:.2%}", _confused(e, index))
    return table


def _confused(evaluation: Evaluation, label: int) -> str:
    if evaluation.confusion is None:
        return ""
    row = evaluation.confusion[label]
    others = [(count, index) for index, count in enumerate(row) if index != label and count]
    if not others:
        return ""
    count, index = max(others)
    return f"{markup(evaluation.class_names[index])} ({count:,})"


def evaluation_json(evaluation: Evaluation, *, run: Path) -> str:
    """One JSON document: every figure the table shows, every class, the confusion matrix."""
    document = {"run": str(run), **asdict(evaluation)}
    return json.dumps(document, indent=1) + "\n"


def confusion_png(evaluation: Evaluation, *, title: str) -> bytes | None:
    """The confusion matrix, rows the labels and columns the predictions, each row as shares of its images; None
    past MAX_PNG classes."""
    e = evaluation
    if e.confusion is None or len(e.class_names) > MAX_PNG:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    from archgen.report.curves import png_of

    classes = len(e.class_names)
    shares = [[count / max(total, 1) for count in row] for row, total in zip(e.confusion, e.class_images,
                                                                             strict=True)]
    side = min(12.0, 2.5 + 0.35 * classes)
    figure, axis = plt.subplots(figsize=(side + 1.2, side), dpi=100)
    image = axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of the class's images")
    axis.set_xticks(range(classes), [printable(name) for name in e.class_names], rotation=90)
    axis.set_yticks(range(classes), [printable(name) for name in e.class_names])
    axis.set_xlabel("predicted")
    axis.set_ylabel("label")
    if classes <= MAX_ANNOTATED:
        for row, counts in enumerate(e.confusion):
            for column, count in enumerate(counts):
                if count:
                    axis.text(column, row, f"{count:,}", ha="center", va="center", fontsize=7,
                              color="white" if shares[row][column] > 0.5 else "black")
    return png_of(figure, title)
