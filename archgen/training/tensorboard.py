"""TensorBoard event files beside a run's own files: per-epoch losses and errors (training and validation overlaid,
as the paper's curves), the learning rate, images/s, and the plan as text. `tensorboard --logdir runs` then shows
runs and search trials side by side. The writer is torch.utils.tensorboard's; nothing here writes events by hand.
The events' folder is made (or found) as a real folder first: a link or file planted at its name is refused, not
followed.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from torch.utils.tensorboard import SummaryWriter

from archgen.files import ensure_folder
from archgen.training.events import EpochMetrics, Listener, RunPlan
from archgen.training.record import EVENTS as EVENTS  # the folder of event files (a run's; a study's, one per trial)

LAYOUT = {"archgen": {
    "error (%)": ["Multiline", ["error/train", "error/val"]],  # thin and bold in the paper; here two lines
    "loss": ["Multiline", ["loss/train", "loss/val"]],
}}


class TensorBoard(Listener):
    """Writes what a training reports into event files under `folder`; close it (or use `with`) when done.

    OSError when `folder` cannot be made or is not a real folder (a run's was checked before training began)."""

    def __init__(self, folder: Path) -> None:
        ensure_folder(folder)  # SummaryWriter's own makedirs would follow a link planted at the name
        self.writer = SummaryWriter(log_dir=str(folder))
        self.writer.add_custom_scalars(LAYOUT)

    def __enter__(self) -> TensorBoard:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.writer.close()

    def on_start(self, plan: RunPlan) -> None:
        lines = [f"{plan.spec.name} on {plan.data} · {plan.device}", f"{plan.params:,} params, {plan.macs:,} MACs",
                 *(f"note: {note}" for note in plan.notes)]
        self.writer.add_text("plan", "  \n".join(lines), global_step=plan.start_epoch)

    def on_epoch(self, metrics: EpochMetrics) -> None:
        scalars = {"loss/train": metrics.train_loss, "loss/val": metrics.val_loss, "error/train": metrics.train_error,
                   "error/val": metrics.val_error, "lr": metrics.lr, "images per second": metrics.images_per_second,
                   "seconds": metrics.seconds}
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, 100 * value if tag.startswith("error") else value, global_step=metrics.epoch)
        self.writer.flush()  # a killed run keeps the epochs it finished
