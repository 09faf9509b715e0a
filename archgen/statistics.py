"""The statistics behind archgen's comparisons: t-intervals over seeds, Welch's test, empirical distribution functions
and their Kolmogorov–Smirnov distance with a bootstrap interval, and the hypervolume of a Pareto front.

Plain numbers in, numbers out: torch-free, no files. scipy does the arithmetic (imported on first use, so a command
that compares one run per network never loads it); the hypervolume, which scipy lacks, is exact slicing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95  # every interval archgen reports
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval; `low` and `high` are None for one value (no spread to measure)."""

    mean: float
    low: float | None
    high: float | None
    count: int

    @property
    def half_width(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2


def t_interval(values: Sequence[float], *, confidence: float = CONFIDENCE) -> Interval:
    """The mean of `values` and Student's t-interval around it (the seeds of one network are a small sample of the
    runs it could give: t, not the normal distribution, with n - 1 degrees of freedom)."""
    if not values:
        raise ValueError("no values to take the mean of")
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return Interval(mean, None, None, 1)
    if _constant(values):  # no spread (scipy would warn of precision lost computing it)
        return Interval(mean, mean, mean, len(values))
    from scipy import stats

    spread = float(stats.t.ppf((1 + confidence) / 2, len(values) - 1) * stats.sem(values))
    return Interval(mean, mean - spread, mean + spread, len(values))


def welch(first: Sequence[float], second: Sequence[float]) -> float:
    """The two-sided p-value of Welch's t-test that `first` and `second` have the same mean (unequal variances);
    two samples that are each constant differ with p 0 if their values differ, and not at all (p 1) if equal."""
    if len(first) < 2 or len(second) < 2:
        raise ValueError(f"Welch's test needs at least 2 values on each side, got {len(first)} and {len(second)}")
    if _constant(first) and _constant(second):
        return 1.0 if first[0] == second[0] else 0.0
    from scipy import stats

    return float(stats.ttest_ind(first, second, equal_var=False).pvalue)


def _constant(values: Sequence[float]) -> bool:
    return all(value == values[0] for value in values)


def edf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The empirical distribution function as steps: sorted values and the fraction of values at or below each
    (Radosavovic et al. 2019, Eq. 1: F(e) = (1/n) Σ 1[e_i < e], drawn as a step at every error)."""
    ordered = sorted(values)
    return ordered, [(index + 1) / len(ordered) for index in range(len(ordered))]


def ks_distance(first: Sequence[float], second: Sequence[float]) -> float:
    """The Kolmogorov–Smirnov statistic: the largest vertical gap between the two samples' EDFs (0 to 1)."""
    from scipy import stats

    return float(stats.ks_2samp(first, second, method="asymp").statistic)  # the statistic only: no exact p-value


def ks_interval(
    first: Sequence[float], second: Sequence[float], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> Interval:
    """The KS distance and its percentile bootstrap interval: each sample resampled with replacement on its own
    (the models of two spaces are independent draws), the statistic recomputed each time."""
    import numpy as np

    generator = np.random.default_rng(seed)
    left, right = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    found = [ks_distance(list(generator.choice(left, left.size)), list(generator.choice(right, right.size)))
             for _ in range(resamples)]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(found, [tail, 100 - tail])
    return Interval(ks_distance(first, second), float(low), float(high), resamples)


def quantile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile of `values`, interpolated linearly (numpy's default)."""
    import numpy as np

    return float(np.quantile(np.asarray(values, dtype=float), fraction))


def dominates(first: Sequence[float], second: Sequence[float]) -> bool:
    """Whether `first` is at least as good as `second` in every objective and better in one (all minimised)."""
    return all(a <= b for a, b in zip(first, second, strict=True)) and any(
        a < b for a, b in zip(first, second, strict=True))


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The volume dominated by `points` and bounded by `reference` (every objective minimised; points not below the
    reference in every objective add nothing). Exact: the last objective is cut into slabs at each point's value and
    each slab's (d-1)-dimensional volume summed (While et al. 2006's slicing), fine for the fronts of a search."""
    inside = [tuple(point) for point in points if all(p < r for p, r in zip(point, reference, strict=True))]
    if not inside:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(point[0] for point in inside)
    inside.sort(key=lambda point: point[-1])
    volume = 0.0
    for index, point in enumerate(inside):
        top = inside[index + 1][-1] if index + 1 < len(inside) else reference[-1]
        if top > point[-1]:  # the slab from this point's last value to the next one's holds the points so far
            volume += (top - point[-1]) * hypervolume([p[:-1] for p in inside[: index + 1]], reference[:-1])
    return volume
