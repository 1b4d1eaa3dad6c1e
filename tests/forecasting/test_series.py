"""Regularising sparse spend rows into one value per bucket."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest

from services.forecasting.series import DAY, HOUR, RegularSeries, floor_to_bucket, regularize, to_amount

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def test_missing_buckets_are_zero_and_rows_in_a_bucket_add_up() -> None:
    """Hours without rows become 0 (no spend); rows within one hour are summed."""
    rows = [
        (T0 + timedelta(minutes=5), Decimal("1.25")),
        (T0 + timedelta(minutes=55), Decimal("0.75")),
        (T0 + timedelta(hours=3, minutes=1), Decimal("4")),
    ]
    series = regularize(rows, bucket=HOUR)
    assert series.start == T0
    assert series.values.tolist() == [2.0, 0.0, 0.0, 4.0]
    assert series.end == T0 + timedelta(hours=4)


def test_explicit_range_pads_both_ends_and_includes_a_partial_last_bucket() -> None:
    """start/end widen the grid with zero buckets; an end inside a bucket still includes it."""
    rows = [(T0 + timedelta(days=2, hours=5), 3)]
    series = regularize(rows, bucket=DAY, start=T0 + timedelta(hours=7), end=T0 + timedelta(days=4, hours=1))
    assert series.start == T0
    assert series.values.tolist() == [0.0, 0.0, 3.0, 0.0, 0.0]


def test_points_outside_the_range_are_an_error_not_dropped() -> None:
    """A row outside [start, end) raises instead of silently vanishing from the spend."""
    with pytest.raises(ValueError, match="outside"):
        regularize([(T0 + timedelta(days=9), 1)], bucket=DAY, start=T0, end=T0 + timedelta(days=3))


def test_naive_timestamps_and_non_finite_values_are_rejected() -> None:
    """Naive datetimes and NaN amounts are refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        regularize([(datetime(2025, 3, 1), 1)], bucket=HOUR)
    with pytest.raises(ValueError, match="finite"):
        RegularSeries.of(T0, HOUR, [1.0, float("nan")])


def test_buckets_align_to_utc_grid_whatever_the_input_zone() -> None:
    """An hour given in UTC+05:30 lands in the UTC-aligned hour holding that instant."""
    local = datetime(2025, 3, 1, 10, 45, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert floor_to_bucket(local, HOUR) == datetime(2025, 3, 1, 5, 0, tzinfo=UTC)


def test_series_values_are_a_read_only_copy() -> None:
    """Mutating the caller's array afterwards does not change the series, nor can the series be edited."""
    raw = np.array([1.0, 2.0])
    series = RegularSeries(T0, HOUR, raw)
    raw[0] = 99.0
    assert series.values.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="read-only"):
        series.values[0] = 5.0


def test_amounts_round_to_a_millionth_half_even() -> None:
    """Results leave as Decimals rounded to 1e-6."""
    assert to_amount(1.2345675) == Decimal("1.234568")
    assert to_amount(1.2345665) == Decimal("1.234566")
    assert to_amount(0.1 + 0.2) == Decimal("0.300000")
    assert to_amount(2.5e-7) == Decimal("0.000000")
