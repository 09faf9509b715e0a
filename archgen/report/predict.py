"""`archgen predict`'s output: each image's top classes with their probabilities, as a table or one JSON document.
Renders `archgen.inference.Predictions`; computes nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archgen.report.outside import markup, printable

if TYPE_CHECKING:
    from archgen.inference import Predictions

ORDINALS = ("1st", "2nd", "3rd")


def predictions_table(predictions: Predictions) -> RenderableType:
    """A row per image: its classes from the most probable, each with its probability; then the notes."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False)
    table.add_column("image", justify="left", overflow="fold")
    k = max((len(p.top) for p in predictions.predictions), default=1)
    for rank in range(k):
        table.add_column(ORDINALS[rank] if rank < len(ORDINALS) else f"{rank + 1}th", justify="left", overflow="fold")
    for prediction in predictions.predictions:
        table.add_row(markup(str(prediction.image)),
                      *(f"{markup(guess.name)} {guess.probability:.1%}" for guess in prediction.top))
    notes = [Text(f"note: {printable(note)}", style="yellow") for note in predictions.notes]
    return Group(table, *notes)


def predictions_json(predictions: Predictions) -> str:
    """One JSON document: every image with its top classes (index, name, probability), and the notes."""
    document = {
        "predictions": [{"image": str(p.image), "top": [{"index": g.index, "name": g.name,
                                                          "probability": g.probability} for g in p.top]}
                        for p in predictions.predictions],
        "notes": list(predictions.notes),
    }
    return json.dumps(document, indent=1) + "\n"
