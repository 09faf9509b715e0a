"""`archgen compare`'s output: a table of runs' final errors, parameters and MACs (rich or Markdown).

Reads `RunRecord`s; parameters and MACs are the analysis' exact counts of each run's spec.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table

from archgen.analysis import analyze
from archgen.runs.record import RunRecord

HEADERS = ("run", "network", "epochs", "train err", "val err", "best val err", "params", "MACs", "status")


def compare_rows(records: Sequence[RunRecord]) -> list[tuple[str, ...]]:
    """One row of HEADERS per run: final training and validation error, best validation error, size."""
    rows: list[tuple[str, ...]] = []
    for record in records:
        cost = analyze(record.spec)
        last = record.history[-1] if record.history else None
        epochs = f"{len(record.history)}/{record.spec.train.epochs}"
        rows.append((
            record.path.name, record.name, epochs,
            _percent(last.train_error if last else None), _percent(last.val_error if last else None),
            _percent(min((m.val_error for m in record.history), default=None)),
            f"{cost.params:,}", f"{cost.macs / 1e6:,.1f} M", record.status,
        ))
    return rows


def compare_table(records: Sequence[RunRecord]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("run", "network", "status") else "right", no_wrap=True)
    for row in compare_rows(records):
        table.add_row(*row)
    return table


def compare_markdown(records: Sequence[RunRecord]) -> str:
    """The same table as GitHub Markdown, for docs."""
    aligns = ["---" if header in ("run", "network", "status") else "---:" for header in HEADERS]
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in compare_rows(records)]
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"
