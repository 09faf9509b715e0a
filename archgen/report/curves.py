"""Training curves in the style of the paper's Fig. 1 and 6: thin dashed training error, bold validation error.

One colour per network; x is the epoch, y the error in percent. Draws what it is given; computes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from archgen.errors import RunError
from archgen.train import EpochMetrics

Curve = tuple[str, Sequence[EpochMetrics]]  # (label, epochs)


def plot_curves(curves: Sequence[Curve], path: Path, *, title: str | None = None) -> Path:
    """Write a PNG of every curve's training (dashed) and validation (bold) error against epoch."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, history) in enumerate(curves):
        colour = colours[index % len(colours)]
        epochs = [m.epoch for m in history]
        axes.plot(epochs, [100 * m.train_error for m in history], linestyle="--", linewidth=1.0, color=colour)
        axes.plot(epochs, [100 * m.val_error for m in history], linewidth=2.2, color=colour, label=label)
    axes.set_xlabel("epoch")
    axes.set_ylabel("error (%)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    if title:
        axes.set_title(title, fontsize=10)
    axes.plot([], [], linestyle="--", linewidth=1.0, color="grey", label="dashed: training error")
    axes.plot([], [], linewidth=2.2, color="grey", label="bold: validation error")
    axes.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    try:
        figure.savefig(path, format="png")
    except OSError as error:
        raise RunError(f"cannot write {path}: {error.strerror} (errno {error.errno})") from None
    finally:
        plt.close(figure)
    return path
