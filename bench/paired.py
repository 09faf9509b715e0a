"""Two sides measured in turns, the order alternating (A B, B A, …), so background load falls on both alike.

The figure of a benchmark is the median of the per-repeat ratios A / B with its interquartile range:
a ratio of back-to-back measurements, which shared machines disturb far less than either side alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    first: float
    """Median of the first side's measurements."""
    second: float
    """Median of the second side's measurements."""
    ratio: float
    """Median of the per-repeat ratios first / second."""
    ratio_iqr: tuple[float, float]
    """Lower and upper quartiles of those ratios."""


def alternate(first: Callable[[int], float], second: Callable[[int], float], *, repeats: int) -> Paired:
    """Measure both sides `repeats` times (each callable takes the repeat index), alternating which goes first."""
    pairs = []
    for repeat in range(repeats):
        if repeat % 2:
            b, a = second(repeat), first(repeat)
        else:
            a, b = first(repeat), second(repeat)
        pairs.append((a, b))
    ratios = sorted(a / b for a, b in pairs)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return Paired(
        first=statistics.median(a for a, _ in pairs),
        second=statistics.median(b for _, b in pairs),
        ratio=statistics.median(ratios),
        ratio_iqr=(quartiles[0], quartiles[2]),
    )
