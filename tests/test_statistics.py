"""archgen.statistics on values with known answers: t-intervals, Welch's test, EDFs, the KS distance and its bootstrap
interval, quantiles, dominance and the hypervolume."""

from __future__ import annotations

import pytest

from archgen.statistics import (
    dominates,
    edf,
    hypervolume,
    ks_distance,
    ks_interval,
    quantile,
    t_interval,
    welch,
)


def test_the_t_interval_of_five_values() -> None:
    """Mean 3, sample sd sqrt(2.5), t(0.975, 4) = 2.7764: half width 2.7764 x sqrt(2.5) / sqrt(5) = 1.9632."""
    found = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert found.mean == 3.0 and found.count == 5
    assert found.half_width == pytest.approx(1.96324, abs=1e-5)
    assert (found.low, found.high) == pytest.approx((1.03676, 4.96324), abs=1e-5)


def test_one_value_has_no_interval_and_equal_values_a_zero_one() -> None:
    assert t_interval([0.5]).half_width is None
    assert t_interval([0.2, 0.2, 0.2]).half_width == 0.0
    with pytest.raises(ValueError, match="no values"):
        t_interval([])


def test_welch_on_two_samples_of_two() -> None:
    """Means 0.11 and 0.21, each sd sqrt(2)/100: t = -7.07 on 2 degrees of freedom, p = 0.0194."""
    assert welch([0.10, 0.12], [0.20, 0.22]) == pytest.approx(0.019419, abs=1e-5)
    assert welch([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]) == pytest.approx(1.0)
    assert welch([0.0, 0.0], [0.0, 0.0]) == 1.0 and welch([0.0, 0.0], [0.01, 0.01]) == 0.0  # constant samples
    with pytest.raises(ValueError, match="at least 2 values on each side"):
        welch([0.1], [0.1, 0.2])


def test_the_edf_steps_at_each_value() -> None:
    assert edf([0.3, 0.1, 0.2, 0.2]) == ([0.1, 0.2, 0.2, 0.3], [0.25, 0.5, 0.75, 1.0])


def test_the_ks_distance_is_the_largest_gap_between_edfs() -> None:
    assert ks_distance([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == pytest.approx(1 / 3)
    assert ks_distance([1.0, 2.0], [3.0, 4.0]) == 1.0
    assert ks_distance([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == 0.0


def test_the_bootstrap_interval_holds_the_distance_and_is_reproducible() -> None:
    first, second = [float(i) for i in range(20)], [float(i) for i in range(5, 25)]  # shifted by a quarter
    found = ks_interval(first, second, seed=3, resamples=500)
    assert found.mean == pytest.approx(0.25)
    assert found.low is not None and found.high is not None and found.low <= 0.25 <= found.high
    assert ks_interval(first, second, seed=3, resamples=500) == found
    # control: one sample against itself has distance 0; its resamples do differ (the percentile interval of a
    # distance sits above 0 even then: it measures the estimate's spread, it is no test), but less than the shift's
    same = ks_interval(first, first[::-1], seed=3, resamples=500)
    assert same.mean == 0.0 and same.low is not None and same.low < found.low


def test_quantiles_interpolate() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5 and quantile([1.0, 2.0, 3.0, 4.0], 0.25) == 1.75


def test_dominance_needs_one_strictly_better_objective() -> None:
    assert dominates((1.0, 1.0), (1.0, 2.0)) and not dominates((1.0, 2.0), (1.0, 2.0))
    assert not dominates((0.0, 3.0), (1.0, 2.0))


def test_hypervolumes_known_by_hand() -> None:
    assert hypervolume([(1.0, 2.0), (2.0, 1.0)], (3.0, 3.0)) == pytest.approx(3.0)  # two 2x1 boxes overlapping by 1
    assert hypervolume([(0.0, 0.0, 0.0)], (1.0, 2.0, 3.0)) == pytest.approx(6.0)
    assert hypervolume([(1.0, 2.0, 0.0), (2.0, 1.0, 1.0)], (3.0, 3.0, 2.0)) == pytest.approx(5.0)
    assert hypervolume([(1.0, 2.0), (2.0, 2.5)], (3.0, 3.0)) == pytest.approx(2.0)  # a dominated point adds nothing
    assert hypervolume([(4.0, 0.0)], (3.0, 3.0)) == 0.0  # beyond the reference point
