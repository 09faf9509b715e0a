"""Training curves in the style of the paper's Fig. 1 and 6: thin dashed training error, bold validation error.

One colour per network; x is the epoch, y the error in percent. Given panel names (e.g. "plain" and
"ResNet", as Fig. 6), each panel gets its own axes side by side. Draws what it is given; computes nothing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from archgen.training import EpochMetrics

Curve = tuple[str, Sequence[EpochMetrics]]  # (label, epochs)


def curves_png(curves: Sequence[Curve], *, title: str | None = None, panels: Sequence[str] | None = None) -> bytes:
    """A PNG of every curve's training (dashed) and validation (bold) error against epoch (the caller writes it).

    panels: one name per curve; curves with the same name share a panel (default: one panel).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    names = list(panels) if panels is not None else [""] * len(curves)
    order = list(dict.fromkeys(names))
    figure, axes = plt.subplots(1, len(order), figsize=(4.2 * len(order) + 2.2 * (len(order) == 1), 3.8),
                                dpi=100, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, ((label, history), name) in enumerate(zip(curves, names, strict=True)):
        axis, colour = axes[0][order.index(name)], colours[index % len(colours)]
        epochs = [m.epoch for m in history]
        marker = "o" if len(epochs) == 1 else None  # one epoch is a point, which a line alone would not show
        axis.plot(epochs, [100 * m.train_error for m in history], linestyle="--", linewidth=1.0, color=colour,
                  marker=marker, fillstyle="none")
        axis.plot(epochs, [100 * m.val_error for m in history], linewidth=2.2, color=colour, label=label,
                  marker=marker)
    for axis, name in zip(axes[0], order, strict=True):
        _style(axis, name)
    return png_of(figure, title)


def png_of(figure: Any, title: str | None) -> bytes:
    """A finished matplotlib figure as PNG bytes, titled if `title`; the figure is closed either way."""
    import matplotlib.pyplot as plt

    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    png = io.BytesIO()
    try:
        figure.savefig(png, format="png")
    finally:
        plt.close(figure)
    return png.getvalue()


def _style(axis: object, name: str) -> None:
    axis.set_xlabel("epoch")  # type: ignore[attr-defined]
    axis.set_ylabel("error (%)")  # type: ignore[attr-defined]
    axis.set_ylim(bottom=0)  # type: ignore[attr-defined]
    axis.grid(alpha=0.3)  # type: ignore[attr-defined]
    if name:
        axis.set_title(name, fontsize=10)  # type: ignore[attr-defined]
    axis.plot([], [], linestyle="--", linewidth=1.0, color="grey", label="training (dashed)")  # type: ignore[attr-defined]
    axis.plot([], [], linewidth=2.2, color="grey", label="validation (bold)")  # type: ignore[attr-defined]
    axis.legend(fontsize=8, frameon=False)  # type: ignore[attr-defined]
