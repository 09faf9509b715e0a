"""`archgen search` and `archgen report` output: the live view, the top-trials table, and the search plots (PNG bytes,
which the caller writes).

Renders `archgen.search` values; computes nothing about the study itself.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archgen.degradation import Pair
from archgen.report.outside import markup, printable
from archgen.search import Progress, StudyResults, TrialRow

_STYLE = {"complete": "green", "pruned": "yellow", "failed": "red", "running": "cyan"}
_VERDICT_STYLE = {"degrades": "red", "over-fits": "yellow", "improves": "green", "same": ""}
MAX_PAIRS = 20  # verdict rows shown; a grid of n depths has n(n-1)/2 pairs


def _accuracy(row: TrialRow | None) -> str:
    """The final validation accuracy; over several seeds, their mean ± the half width of its 95% t-interval."""
    if row is None or row.accuracy is None:
        return "-"
    interval = row.accuracy_interval
    spread = "" if interval is None or interval.half_width is None else f" ± {interval.half_width * 100:.2f}"
    return f"{row.accuracy:.2%}{spread}"


def _count(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1_000_000 else f"{value / 1e3:.1f}k" if value >= 10_000 else f"{value:,}"


def _point(point: dict[str, Any]) -> str:
    """The sampled values as `path=value` (a storage's text: shown escaped by the caller)."""
    return " ".join(
        f"{path}={value:.3g}" if isinstance(value, float) else f"{path}={value}" for path, value in point.items()
    )


def status_line(progress: Progress) -> Text:
    """`12/50 finished · 2 running · 3 pruned · 4 over budget/rejected · 1 failed · best 97.22% (#8)`."""
    text = Text()
    text.append(f"{printable(progress.study)}: ", style="bold")
    of_target = "" if progress.target is None else f"/{progress.target}"
    text.append(f"{progress.finished}{of_target} finished", style="bold")
    parts = [
        (f"{progress.running} running", "cyan"),
        (f"{progress.complete} complete", "green"),
        (f"{progress.pruned} pruned", "yellow"),
        (f"{progress.rejected} rejected before training", "magenta"),
        (f"{progress.failed} failed", "red"),
    ]
    for label, style in parts:
        text.append(" · ")
        text.append(label, style=style)
    if progress.best is not None:
        text.append(" · best ")
        text.append(f"{_accuracy(progress.best)} (trial {progress.best.number})", style="bold green")
    return text


def trials_table(
    rows: Sequence[TrialRow], *, title: str, objectives: Sequence[str] = ("accuracy",), train_error: bool = False
) -> Table:
    """Rank, trial, architecture, params, MACs, (latency), accuracy, (final training error), epochs, (the trial it
    grew from), and the sampled values."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    table.add_column("#", justify="right", overflow="fold")
    table.add_column("trial", justify="right", overflow="fold")
    table.add_column("architecture", overflow="fold")
    table.add_column("params", justify="right", overflow="fold")
    table.add_column("MACs", justify="right", overflow="fold")
    if "latency" in objectives:
        table.add_column("latency", justify="right", overflow="fold")
    table.add_column("accuracy", justify="right", overflow="fold")
    if train_error:
        table.add_column("train error", justify="right", overflow="fold")
    table.add_column("epochs", justify="right", overflow="fold")
    grown = any(row.grown_from is not None for row in rows)
    if grown:
        table.add_column("grown from", justify="right", overflow="fold")
    table.add_column("other values", overflow="fold")
    for rank, row in enumerate(rows, start=1):
        cells = [str(rank), str(row.number), markup(row.architecture), _count(row.params), _count(row.macs)]
        if "latency" in objectives:
            cells.append("-" if row.latency_ms is None else f"{row.latency_ms:.2f} ms")
        cells.append(_accuracy(row))
        if train_error:
            cells.append("-" if row.train_error is None else f"{row.train_error:.2%}")
        cells.append(str(row.epochs))
        if grown:
            cells.append("-" if row.grown_from is None else f"trial {row.grown_from}")
        cells.append(markup(_point({k: v for k, v in row.point.items() if not k.startswith("body.")})))
        table.add_row(*cells, style=_STYLE.get(row.outcome, ""))
    return table


def live_view(progress: Progress) -> RenderableType:
    """What `archgen search` shows while it runs: the status line and a leaderboard."""
    if not progress.leaderboard:
        return status_line(progress)
    return Group(
        status_line(progress), trials_table(progress.leaderboard, title="leaderboard", objectives=progress.objectives)
    )


def final_report(results: StudyResults, *, written: Sequence[Path] = (), stale: Sequence[Path] = ()) -> RenderableType:
    """The end of a search (or `archgen report`): counts, the top trials, the winners and plots written.

    Where the study trains plain nets beside residual ones, the tables add each trial's final training error: a plain
    net that cannot fit its training data is the paper's degradation, not overfitting (He et al. 2016, Fig. 6).
    """
    progress = results.progress
    objectives, train_error = progress.objectives, _compares_residual(results.rows)
    parts: list[RenderableType] = [status_line(progress)]
    if progress.leaderboard:
        parts.append(trials_table(progress.leaderboard, title="top trials", objectives=objectives,
                                  train_error=train_error))
    if len(objectives) > 1 and results.best:
        parts.append(trials_table(results.best, title="Pareto front", objectives=objectives, train_error=train_error))
    if results.degradation.depth:
        parts.append(verdict_table(results.degradation.depth, title="deeper vs shallower", headers=("deeper", "than")))
    if results.degradation.twins:
        parts.append(verdict_table(results.degradation.twins, title="plain twin vs residual, at equal depth",
                                   headers=("plain", "than")))
    skipped = results.degradation.unjudged
    if skipped:  # a deeper trial at another learning rate says nothing of depth
        fields = ", ".join(dict.fromkeys(field for pair in skipped for field in pair.fields))
        plural = "s" if len(skipped) > 1 else ""
        parts.append(Text(f"not judged: {len(skipped)} deeper-vs-shallower pair{plural} of trials that trained "
                          f"differently ({fields})"))
    failures = [row for row in results.rows if row.outcome == "failed" and row.reason]
    if failures:
        parts.append(Text("failed trials: " + "; ".join(f"{row.number}: {printable(row.reason)}"
                                                       for row in failures[:5])))
    if written:
        parts.append(Text("written: " + ", ".join(printable(str(path)) for path in written)))
    if stale:
        parts.append(Text("not redrawn, so older than the study (nothing to draw now): "
                          + ", ".join(printable(str(path)) for path in stale), style="yellow"))
    return Group(*parts)


def results_json(results: StudyResults, *, written: Sequence[Path] = (), stale: Sequence[Path] = ()) -> str:
    """`archgen search --json` and `archgen report --json`: the counts, every trial, the best, the verdicts."""
    progress = results.progress
    document = {
        "study": progress.study, "target": progress.target, "objectives": list(progress.objectives),
        "finished": progress.finished, "running": progress.running, "complete": progress.complete,
        "pruned": progress.pruned, "rejected": progress.rejected, "failed": progress.failed,
        "best": [asdict(row) for row in results.best], "trials": [asdict(row) for row in results.rows],
        "deeper_vs_shallower": [_pair(pair) for pair in results.degradation.depth],
        "plain_twins": [_pair(pair) for pair in results.degradation.twins],
        "written": [str(path) for path in written], "stale": [str(path) for path in stale],
    }
    return json.dumps(document, indent=1, default=str) + "\n"


def _pair(pair: Pair) -> dict[str, str]:
    return {"deeper": pair.deeper.label, "than": pair.shallower.label, "verdict": pair.verdict, "reason": pair.reason}


def stale_plots(folder: Path, *, drawn: Mapping[str, bytes]) -> list[Path]:
    """The plots an earlier search or report wrote into `folder` that this one did not redraw (nothing to draw:
    no trained trial, too many curves), so that nobody takes them for the study as it is now."""
    return [folder / name for name in PLOT_FILES if name not in drawn and (folder / name).is_file()]


def verdict_table(found: Sequence[Pair], *, title: str, headers: tuple[str, str]) -> Table:
    """Each pair's verdict (`archgen.degradation`: degrades, over-fits, improves, same) and the final errors that
    decided it; at most MAX_PAIRS rows, then how many more."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for header in (*headers, "verdict", "decided by (final errors)"):
        table.add_column(header, overflow="fold")
    for pair in found[:MAX_PAIRS]:
        table.add_row(markup(pair.deeper.label), markup(pair.shallower.label),
                      Text(pair.verdict, style=_VERDICT_STYLE[pair.verdict]), markup(pair.reason))
    if len(found) > MAX_PAIRS:
        table.caption = f"and {len(found) - MAX_PAIRS} more pairs"
    return table


def _compares_residual(rows: Sequence[TrialRow]) -> bool:
    return len({row.point.get("body.residual") for row in rows if "body.residual" in row.point}) > 1


# --- plots ----------------------------------------------------------------------------------------------


def plot_files(results: StudyResults) -> dict[str, bytes]:
    """history.png, pareto.png, importances.png (when there is something to rank) and curves.png, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    files = {}
    for name, draw in PLOTS.items():
        figure = draw(results)
        if figure is None:
            continue
        png = io.BytesIO()
        try:
            figure.savefig(png, format="png", dpi=120, bbox_inches="tight")
        finally:
            plt.close(figure)
        files[name] = png.getvalue()
    return files


def _history(results: StudyResults) -> Any:
    import matplotlib.pyplot as plt

    points = results.plots.history
    if not points:
        return None
    figure, axes = plt.subplots(figsize=(7, 4))
    for kind, colour in (("complete", "tab:green"), ("pruned", "tab:orange")):
        chosen = [(n, a) for n, a, o in points if o == kind]
        if chosen:
            axes.scatter([n for n, _ in chosen], [a for _, a in chosen], s=18, color=colour, label=kind)
    best, line = 0.0, []
    for number, accuracy, kind in sorted(points):
        if kind == "complete":
            best = max(best, accuracy)
            line.append((number, best))
    if line:
        axes.step(*zip(*line, strict=True), where="post", color="black", label="best so far")
    axes.set(xlabel="trial", ylabel="validation accuracy", title=f"{results.progress.study}: optimisation history")
    axes.legend(loc="lower right")
    return figure


def _pareto(results: StudyResults) -> Any:
    import matplotlib.pyplot as plt

    cost = results.plots.pareto_cost or "params"
    attribute = {"params": "params", "macs": "macs", "latency": "latency_ms"}[cost]
    trained = [r for r in results.rows if r.outcome == "complete" and getattr(r, attribute) is not None]
    if not trained:
        return None
    best = {r.number for r in results.best}
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.scatter(
        [getattr(r, attribute) for r in trained],
        [r.accuracy or 0.0 for r in trained],
        s=18,
        color="tab:blue",
        alpha=0.5,
        label="trials",
    )
    front = sorted((r for r in trained if r.number in best), key=lambda r: getattr(r, attribute))
    axes.plot(
        [getattr(r, attribute) for r in front],
        [r.accuracy or 0.0 for r in front],
        "o-",
        color="tab:red",
        label="Pareto front" if len(results.progress.objectives) > 1 else "best",
    )
    axes.set(xlabel=cost, ylabel="validation accuracy", title=f"{results.progress.study}: accuracy against {cost}")
    if cost != "latency":
        axes.set_xscale("log")
    axes.legend(loc="lower right")
    return figure


def _importances(results: StudyResults) -> Any:
    import matplotlib.pyplot as plt

    ranked = sorted(results.plots.importances.items(), key=lambda item: item[1])
    if not ranked:
        return None
    figure, axes = plt.subplots(figsize=(7, 0.5 * len(ranked) + 1.2))
    axes.barh([name for name, _ in ranked], [value for _, value in ranked], color="tab:blue")
    axes.set(
        xlabel="importance for validation accuracy (fANOVA)", title=f"{results.progress.study}: parameter importances"
    )
    return figure


def _curves(results: StudyResults) -> Any:
    """Training (dashed) and validation (solid) error per epoch, one panel per value of the first
    true/false or few-choice parameter: residual vs plain side by side for the degradation grid."""
    import matplotlib.pyplot as plt

    trained = [r for r in results.rows if r.history and r.outcome in ("complete", "pruned")]
    if not trained or len(trained) > 24:
        return None
    split = _panel_parameter(trained)
    groups = sorted({r.point.get(split) for r in trained}, key=str) if split else [None]
    figure, axes_row = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), sharey=True, squeeze=False)
    for axes, group in zip(axes_row[0], groups, strict=True):
        for index, r in enumerate(r for r in trained if split is None or r.point.get(split) == group):
            colour = f"C{index % 10}"
            label = _point({k: v for k, v in r.point.items() if k != split}) or f"trial {r.number}"
            epochs = [row["epoch"] for row in r.history]
            axes.plot(epochs, [row["train_error"] for row in r.history], "--", color=colour)
            axes.plot(epochs, [row["val_error"] for row in r.history], "-", color=colour, label=label)
        axes.set(
            xlabel="epoch",
            ylabel="error (dashed: training, solid: validation)",
            title=f"{split} = {group}" if split else results.progress.study,
        )
        axes.legend(fontsize=8)
    return figure


def _panel_parameter(rows: Sequence[TrialRow]) -> str | None:
    for path in rows[0].point:
        values = {r.point.get(path) for r in rows}
        if any(isinstance(value, bool) for value in values) and 1 < len(values) <= 4:
            return path
    return None


PLOTS: dict[str, Callable[[StudyResults], Any]] = {
    "history.png": _history, "pareto.png": _pareto, "importances.png": _importances, "curves.png": _curves,
}
PLOT_FILES = tuple(PLOTS)  # the names `plot_files` may write
