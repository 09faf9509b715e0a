"""`archgen compare`'s output: a table of runs' final errors and losses, parameters and MACs, and each deeper net's
verdict against each shallower one of its family trained alike, or why a pair has none (rich or Markdown).

Reads `RunRecord`s; runs of one spec and recipe from several seeds are one row, each number their mean ± the half
width of its 95% t-interval (`archgen.statistics`); parameters and MACs are the analysis' exact counts of each run's
spec; verdicts are `archgen.degradation`'s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.table import Table

from archgen.analysis import analyze
from archgen.degradation import Pair, Trained, Unjudged, pairs, seed_key, unjudged
from archgen.report.outside import markup, printable
from archgen.statistics import t_interval
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
    run did not finish. Runs of one network from several seeds are one row, with a seeds column."""
    groups = seed_groups(records)
    if all(len(group) == 1 for group in groups):
        return _run_rows(records)
    headers = (HEADERS[0], "seeds", *HEADERS[1:])
    rows = []
    for label, group in zip(group_labels(groups), groups, strict=True):
        finals = [record.history[-1] for record in group if record.history]
        cost = analyze(group[0].spec)
        cells = [label, str(len(group)), _epochs(group[0], group[0].status)]
        cells += [_spread([getattr(last, key) for last in finals], percent=key != "train_loss")
                  for key in ("train_error", "train_loss", "val_error")]
        cells.append(_spread([min(m.val_error for m in record.history) for record in group if record.history]))
        rows.append((*cells, f"{cost.params:,}", f"{cost.macs / 1e6:,.1f}M"))
    return headers, rows


def _run_rows(records: Sequence[RunRecord]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
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


def seed_groups(records: Sequence[RunRecord]) -> list[list[RunRecord]]:
    """The runs grouped by network: one spec and recipe (`archgen.degradation.seed_key`), the same epochs trained,
    finished; in the order each group's first run was given. A run that did not finish is a group of its own."""
    groups: dict[object, list[RunRecord]] = {}
    for index, record in enumerate(records):
        finished = record.status == "finished"
        key = (seed_key(record.spec), len(record.history)) if finished else index
        groups.setdefault(key, []).append(record)
    return list(groups.values())


def group_labels(groups: Sequence[Sequence[RunRecord]]) -> list[str]:
    """Each group's network name, or its first run folder's where one network appears in two groups."""
    names = [group[0].name for group in groups]
    if len(set(names)) == len(names):
        return names
    return [group[0].path.name for group in groups]


def depth_pairs(records: Sequence[RunRecord]) -> list[Pair]:
    """Each finished deeper net against each shallower one of its family trained alike (`archgen.degradation`)."""
    return pairs(_trained(records))


def unjudged_pairs(records: Sequence[RunRecord]) -> list[Unjudged]:
    """The deeper-vs-shallower pairs of one family that trained differently, each with the difference."""
    return unjudged(_trained(records))


def _trained(records: Sequence[RunRecord]) -> list[Trained]:
    """Each network as the verdicts read it: its seeds' final errors, the images they were measured on, the epochs
    it trained."""
    groups = [[record for record in group if record.history] for group in seed_groups(records)]
    trained = []
    for label, group in zip(group_labels(groups), groups, strict=True):
        if not group:
            continue
        first = group[0]
        images = (int(first.summary.get("train_images") or first.history[-1].images or 1),
                  int(first.summary.get("val_images") or 1))
        errors = [(record.history[-1].train_error, record.history[-1].val_error) for record in group]
        trained.append(Trained.over_seeds(label, first.spec, errors, images=images, epochs=len(first.history)))
    return trained


def depth_rows(records: Sequence[RunRecord]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    rows: list[tuple[str, ...]] = [(pair.deeper.label, pair.shallower.label, pair.verdict, pair.reason)
                                   for pair in depth_pairs(records)]
    rows += [(pair.deeper.label, pair.shallower.label, NOT_JUDGED, pair.reason) for pair in unjudged_pairs(records)]
    return DEPTH_HEADERS, rows


NOT_JUDGED = "not judged"
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


def compare_json(records: Sequence[RunRecord], *, plot: Path | None = None) -> str:
    """`archgen compare --json`: every run's final numbers and history, the depth verdicts, and the plot written."""
    runs = []
    for label, record in zip(labels(records), records, strict=True):
        cost, last = analyze(record.spec), record.history[-1] if record.history else None
        runs.append({
            "label": label, "run": str(record.path), "network": record.name, "status": record.status,
            "epochs": len(record.history), "planned_epochs": record.spec.train.epochs,
            "train_error": last.train_error if last else None, "train_loss": last.train_loss if last else None,
            "val_error": last.val_error if last else None,
            "best_val_error": min((m.val_error for m in record.history), default=None),
            "params": cost.params, "macs": cost.macs, "history": [m.to_dict() for m in record.history],
        })
    depth = [dict(zip(("deeper", "than", "verdict", "reason"), row, strict=True)) for row in depth_rows(records)[1]]
    return json.dumps({"runs": runs, "depth": depth, "plot": None if plot is None else str(plot)}, indent=1) + "\n"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True,
                  show_edge=False)  # fits 80 columns
    for header in headers:
        table.add_column(header, justify="left" if header in left else "right", overflow="fold")
    for row in rows:
        table.add_row(*(markup(cell) for cell in row))  # names and statuses come from the runs' files
    return table


def _markdown(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[str]) -> str:
    aligns = ["---" if header in left else "---:" for header in headers]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(printable(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _epochs(record: RunRecord, status: str) -> str:
    done = len(record.history)
    return str(done) if status == "finished" else f"{done}/{record.spec.train.epochs}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _spread(values: Sequence[float], *, percent: bool = True) -> str:
    """The mean ± the half width of its 95% t-interval over the seeds (the mean alone for one seed)."""
    if not values:
        return "–"
    found = t_interval(values)
    if percent:
        mean = f"{found.mean:.2%}"
        return mean if found.half_width is None else f"{mean} ± {found.half_width * 100:.2f}"
    return f"{found.mean:.4f}" if found.half_width is None else f"{found.mean:.4f} ± {found.half_width:.4f}"
