"""`archgen compare`'s output: a table of runs' final errors and losses, parameters and MACs, and each deeper net's
verdict against each shallower one of its family (rich or Markdown).

Reads `RunRecord`s; parameters and MACs are the analysis' exact counts of each run's spec; verdicts are
`archgen.degradation`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table

from archgen.analysis import analyze
from archgen.degradation import Pair, Trained, pairs
from archgen.training.record import RunRecord

HEADERS = ("network", "epochs", "train err", "train loss", "val err", "best val", "params", "MACs")
# train err and loss: the last epoch's, measured on the fly (augmented, BN in training mode) as the paper's curves
LEFT = ("network", "status")


def labels(records: Sequence[RunRecord]) -> list[str]:
    """The networks' names, or the run folders' where one network appears twice."""
    names = [record.name for record in records]
    return names if len(set(names)) == len(names) else [record.path.name for record in records]


def compare_rows(records: Sequence[RunRecord]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(headers, rows): final training error and loss, final and best validation error, size; status if any
    run did not finish."""
    statuses = [record.status for record in records]
    headers = HEADERS + (("status",) if any(status != "finished" for status in statuses) else ())
    rows: list[tuple[str, ...]] = []
    for label, record, status in zip(labels(records), records, statuses, strict=True):
        cost, last = analyze(record.spec), record.history[-1] if record.history else None
        cells = (
            label, _epochs(record, status),
            _percent(last.train_error if last else None), "–" if last is None else f"{last.train_loss:.4f}",
            _percent(last.val_error if last else None),
            _percent(min((m.val_error for m in record.history), default=None)),
            f"{cost.params:,}", f"{cost.macs / 1e6:,.1f}M",
        )
        rows.append(cells + ((status,) if len(headers) > len(HEADERS) else ()))
    return headers, rows


def depth_pairs(records: Sequence[RunRecord]) -> list[Pair]:
    """Each finished deeper net against each shallower one of its family (`archgen.degradation`)."""
    trained = [
        Trained(label, record.spec, record.history[-1].train_error, record.history[-1].val_error,
                int(record.summary.get("train_images") or record.history[-1].images or 1),
                int(record.summary.get("val_images") or 1))
        for label, record in zip(labels(records), records, strict=True) if record.history
    ]
    return pairs(trained)


def depth_rows(records: Sequence[RunRecord]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return DEPTH_HEADERS, [(pair.deeper.label, pair.shallower.label, pair.verdict, pair.reason)
                           for pair in depth_pairs(records)]


DEPTH_HEADERS = ("deeper", "than", "verdict", "decided by (final errors)")
DEPTH_LEFT = DEPTH_HEADERS


def compare_table(records: Sequence[RunRecord]) -> list[Table]:
    """The runs' table, and the depth verdicts' where two runs of one family differ in depth."""
    tables = [_table(*compare_rows(records), LEFT)]
    headers, rows = depth_rows(records)
    if rows:
        tables.append(_table(headers, rows, DEPTH_LEFT))
    return tables


def compare_markdown(records: Sequence[RunRecord]) -> str:
    """The same tables as GitHub Markdown, for docs."""
    text = _markdown(*compare_rows(records), LEFT)
    headers, rows = depth_rows(records)
    return text + ("\n" + _markdown(headers, rows, DEPTH_LEFT) if rows else "")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True,
                  show_edge=False)  # fits 80 columns
    for header in headers:
        table.add_column(header, justify="left" if header in left else "right", no_wrap=header not in DEPTH_HEADERS)
    for row in rows:
        table.add_row(*row)
    return table


def _markdown(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[str]) -> str:
    aligns = ["---" if header in left else "---:" for header in headers]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _epochs(record: RunRecord, status: str) -> str:
    done = len(record.history)
    return str(done) if status == "finished" else f"{done}/{record.spec.train.epochs}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"
