"""`archgen train`'s output: the plan, one line per epoch, a live progress bar, and a final table.

Renders what the pipeline reports (`RunPlan`, `StepProgress`, `EpochMetrics`, `TrainResult`); computes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from archgen.report.outside import markup, printable
from archgen.training import EpochMetrics, Listener, RunPlan, StepProgress, TrainResult

MAX_EPOCH_LINES = 20  # longer runs print every k-th epoch on a terminal (the bar shows the running one)
EPOCH_HEADER = (
    f"{'epoch':>7} {'train loss':>10} {'train err':>9} {'val loss':>9} {'val err':>8} "
    f"{'lr':>8} {'img/s':>7} {'time':>7}"
)


def plan_text(plan: RunPlan) -> RenderableType:
    """What trains on what, where, and where it is written."""
    channels, height, width = plan.image_shape
    lines = [
        Text.assemble(("archgen train ", "bold"), (plan.spec.name, "bold cyan"),
                      f" on {printable(plan.data)} · {plan.device}"
                      + (f" × {plan.world} processes" if plan.world > 1 else "")),
        Text(f"  data     {plan.train_images:,} train / {plan.val_images:,} val images, "
             f"{channels}x{height}x{width}, {plan.classes} classes"),
        Text(f"  network  {plan.params:,} params, {plan.macs / 1e6:,.1f} M MACs per image"),
        *(Text(f"  {label:<8} {line}") for label, line in zip(("recipe", ""), _recipe(plan), strict=True)),
    ]
    if plan.run_dir is not None:
        lines.append(Text(f"  run      {printable(str(plan.run_dir))}"))
    if plan.start_step:  # counted as the stop counted it: "stopped … at epoch 7, step 12 of 23"
        lines.append(Text(f"  resuming at epoch {plan.start_epoch + 1}, step {plan.start_step} of "
                          f"{plan.steps_per_epoch}", style="yellow"))
    elif plan.start_epoch:
        lines.append(Text(f"  resuming after epoch {plan.start_epoch}", style="yellow"))
    lines += [Text(f"  note: {printable(note)}", style="yellow") for note in plan.notes]
    return Group(*lines)


def _recipe(plan: RunPlan) -> tuple[str, str]:
    recipe = plan.spec.train
    schedule = {"multistep": f"×{recipe.gamma:g} at {' and '.join(f'{m:.0%}' for m in recipe.milestones)}",
                "cosine": "cosine decay", "constant": "constant"}[recipe.schedule]
    warmup = f", {recipe.warmup_epochs} warm-up epochs" if recipe.warmup_epochs else ""
    return (f"{_count(recipe.epochs, 'epoch')} × {plan.steps_per_epoch} steps of batch {recipe.batch_size}, "
            f"seed {recipe.seed}",
            f"{recipe.optimizer} lr {recipe.lr:g} ({schedule}{warmup}), momentum {recipe.momentum:g}, "
            f"weight decay {recipe.weight_decay:g}")


def epoch_line(metrics: EpochMetrics, epochs: int) -> Text:
    """One row under EPOCH_HEADER."""
    epoch = f"{metrics.epoch}/{epochs}"
    return Text(
        f"{epoch:>7} {metrics.train_loss:>10.4f} {metrics.train_error:>9.2%} {metrics.val_loss:>9.4f} "
        f"{metrics.val_error:>8.2%} {metrics.lr:>8.2g} {metrics.images_per_second:>7,.0f} {metrics.seconds:>6.1f}s"
    )


class TrainDisplay(Listener):
    """What `archgen train` shows as it hears the trainer: the plan, a line per epoch, a bar for the running one.

    On a terminal, a long run shows every k-th epoch (at most MAX_EPOCH_LINES) under a live bar; piped or logged,
    every epoch has its line as it ends, and there is no bar.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]} · err {task.fields[error]} · {task.fields[speed]} img/s"),
            TimeElapsedColumn(), console=console, transient=True,
        )
        self.task: TaskID | None = None
        self.epochs, self.every = 0, 1

    def __enter__(self) -> TrainDisplay:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def on_start(self, plan: RunPlan) -> None:
        self.epochs = plan.spec.train.epochs
        self.every = -(-self.epochs // MAX_EPOCH_LINES) if self.live else 1
        self.console.print(plan_text(plan))
        if self.every > 1:
            self.console.print(f"  every {ordinal(self.every)} epoch below; all of them in metrics.jsonl")
        self.console.print(Text(EPOCH_HEADER, style="bold"))
        if self.live:
            self.progress.start()  # only once training starts: an early error prints nothing else

    def on_progress(self, step: StepProgress) -> None:
        if not self.live:
            return
        fields: dict[str, Any] = {
            "epoch": f"{step.epoch}/{self.epochs}", "loss": f"{step.loss:.3f}", "error": f"{step.error:.1%}",
            "speed": f"{step.images_per_second:,.0f}",
        }
        if self.task is None:
            self.task = self.progress.add_task("", total=step.steps, **fields)
        self.progress.update(self.task, completed=step.step, total=step.steps, **fields)

    def on_note(self, note: str) -> None:
        self.console.print(Text(f"  note: {printable(note)}", style="yellow"))

    def on_epoch(self, metrics: EpochMetrics) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        if metrics.epoch % self.every == 0 or metrics.epoch in (1, self.epochs):
            self.console.print(epoch_line(metrics, self.epochs))


def result_table(result: TrainResult) -> Table:
    """The run in a few lines: final and best errors, size, time (fits 80 columns)."""
    history = result.history
    seconds = sum(m.seconds for m in history)
    title = f"{markup(result.spec.name)}: {_count(len(history), 'epoch')} in {seconds:,.0f} s"
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2), title=title, title_justify="left")
    table.add_column(style="bold", overflow="fold")
    table.add_column(justify="right", overflow="fold")
    if history:
        best = min(history, key=lambda m: m.val_error)
        table.add_row("training error", f"{result.final_train_error:.2%}")
        table.add_row("validation error", f"{result.final_val_error:.2%}")
        table.add_row("best validation error", f"{best.val_error:.2%} (epoch {best.epoch})")
    table.add_row("parameters", f"{result.params:,}")
    table.add_row("MACs per image", f"{result.macs:,}")
    return table


def result_json(result: TrainResult, *, written: Sequence[str] = ()) -> str:
    """`archgen train --json`: the run's folder, size, final and best errors, and every epoch's metrics."""
    history = result.history
    best = min(history, key=lambda m: m.val_error) if history else None
    document = {
        "spec": result.spec.name, "run": None if result.run_dir is None else str(result.run_dir),
        "data": result.spec.train.data, "params": result.params, "macs": result.macs,
        "epochs": len(history), "seconds": sum(m.seconds for m in history),
        "train_error": result.final_train_error if history else None,
        "val_error": result.final_val_error if history else None,
        "best_val_error": best.val_error if best else None, "best_epoch": best.epoch if best else None,
        "written": list(written), "history": [m.to_dict() for m in history],
    }
    return json.dumps(document, indent=1) + "\n"


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd."""
    suffix = "th" if number % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
