"""Spend forecasts: calibrated intervals on a known process, the right model per history, no negatives."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.forecasting.forecast import ForecastMethod, forecast, seasonal_minimum
from services.forecasting.series import DAY, HOUR, RegularSeries, regularize
from tests.forecasting.synthetic import START, daily_series

HELD_OUT = 14


def test_held_out_actuals_fall_in_the_90_percent_interval_about_90_percent_of_the_time() -> None:
    """Daily spend with trend and weekly cycle: 14 held-out days of 16 seeded series, pooled coverage."""
    inside = total = 0
    cumulative_inside = 0
    relative_errors = []
    for seed in range(16):
        full = daily_series(120 + HELD_OUT, seed)
        history = RegularSeries(full.start, DAY, full.values[:-HELD_OUT])
        actual = full.values[-HELD_OUT:]
        result = forecast(history, HELD_OUT)
        assert result.method is ForecastMethod.ETS_SEASONAL
        lower = np.array([float(p.lower) for p in result.points])
        upper = np.array([float(p.upper) for p in result.points])
        mean = np.array([float(p.mean) for p in result.points])
        inside += int(np.sum((lower <= actual) & (actual <= upper)))
        total += HELD_OUT
        last = result.points[-1]
        cumulative_inside += int(float(last.cumulative_lower) <= actual.sum() <= float(last.cumulative_upper))
        relative_errors.append(float(np.mean(np.abs(mean - actual))) / float(np.mean(actual)))
    coverage = inside / total
    print(f"per-day coverage {coverage:.3f}, 14-day total coverage {cumulative_inside}/16")
    assert 0.75 <= coverage <= 0.98, f"coverage {coverage:.3f}"
    # The total over the horizon is what budgets need; 16 series are few, so a tolerant floor.
    assert cumulative_inside >= 11, f"cumulative coverage {cumulative_inside}/16"
    # Noise sd is 6 on a level of ~140, so a good mean is off by ~4 per day (mean absolute error).
    assert float(np.mean(relative_errors)) < 0.06, f"mean relative error {np.mean(relative_errors):.3f}"


def test_hourly_series_use_daily_seasonality_by_default() -> None:
    """Hourly buckets get a 24-bucket season; the forecast follows the daily peak."""
    rng = np.random.default_rng(7)
    hours = np.arange(24 * 21)
    level = 5 + 4 * np.sin(2 * np.pi * hours / 24)
    history = RegularSeries(START, HOUR, level + rng.normal(0, 0.3, hours.size))
    result = forecast(history, 24)
    assert result.method is ForecastMethod.ETS_SEASONAL
    assert result.season_length == 24
    means = np.array([float(p.mean) for p in result.points])
    assert int(np.argmax(means)) in (5, 6, 7)  # the sine peaks at hour 6
    assert np.max(np.abs(means - level[:24])) < 1.0
    assert result.points[0].start == START + timedelta(days=21)


def test_the_model_follows_the_history_length() -> None:
    """Mean rate below 5 buckets, level-only ETS below 10, damped trend below two seasons, then seasonal."""
    expected = {
        1: ForecastMethod.MEAN_RATE,
        4: ForecastMethod.MEAN_RATE,
        5: ForecastMethod.ETS_LEVEL,
        9: ForecastMethod.ETS_LEVEL,
        10: ForecastMethod.ETS_TREND,
        seasonal_minimum(7) - 1: ForecastMethod.ETS_TREND,
        seasonal_minimum(7): ForecastMethod.ETS_SEASONAL,
    }
    for length, method in expected.items():
        result = forecast(daily_series(length, seed=length), 7)
        assert result.method is method, f"{length} buckets: {result.method}"
        assert result.history_buckets == length
        assert len(result.points) == 7


def test_mean_rate_fallback_uses_the_sample_spread() -> None:
    """Three days of $10, $20, $30: mean $20 per day, an interval wider than the mean's own error."""
    result = forecast(RegularSeries.of(START, DAY, [Decimal(10), Decimal(20), Decimal(30)]), 3, seed=1)
    assert result.method is ForecastMethod.MEAN_RATE
    first = result.points[0]
    assert first.mean == Decimal("20.000000")
    # sd 10, z 1.645, sqrt(1 + 1/3): about ±19 (simulated, so a tolerance).
    assert Decimal(0) <= first.lower <= Decimal(4)
    assert Decimal(36) <= first.upper <= Decimal(40)
    assert result.points[2].cumulative_mean == Decimal("60.000000")


def test_all_zero_history_forecasts_zero() -> None:
    """No spend at all: a zero forecast with a zero-width interval, method 'zero'."""
    result = forecast(RegularSeries.of(START, DAY, [0] * 40), 5)
    assert result.method is ForecastMethod.ZERO
    assert result.history_buckets == 0
    for point in result.points:
        assert point.mean == point.lower == point.upper == point.cumulative_upper == Decimal("0.000000")


def test_leading_zeros_are_not_history() -> None:
    """Buckets before the first spend are ignored: 30 empty days then 3 days of spend is a 3-day history."""
    result = forecast(RegularSeries.of(START, DAY, [0] * 30 + [12, 12, 12]), 2)
    assert result.method is ForecastMethod.MEAN_RATE
    assert result.history_buckets == 3
    assert result.points[0].mean == Decimal("12.000000")
    assert result.points[0].start == START + timedelta(days=33)


def test_falling_and_negative_history_never_forecasts_negative_spend() -> None:
    """A steep decline (and refunds below zero) still gives non-negative means and bounds."""
    declining = RegularSeries.of(START, DAY, [100 - 6 * i for i in range(20)] + [-5, -8])
    result = forecast(declining, 14)
    assert float(result.points[0].mean) < 10
    assert result.points[-1].cumulative_mean < Decimal(60)
    for point in result.points:
        assert Decimal(0) <= point.lower <= point.mean <= point.upper
        assert Decimal(0) <= point.cumulative_lower <= point.cumulative_mean <= point.cumulative_upper


def test_missing_buckets_forecast_as_no_spend() -> None:
    """Sparse rows regularised with gaps give the same forecast as the explicit zero-filled series."""
    day0 = datetime(2025, 2, 3, tzinfo=UTC)
    values = [0 if i % 5 == 4 else 50 + i for i in range(30)]
    rows = [(day0 + timedelta(days=i, hours=13), Decimal(v)) for i, v in enumerate(values) if v]
    sparse = regularize(rows, bucket=DAY, end=day0 + timedelta(days=30))
    assert sparse.values.tolist() == [float(v) for v in values]
    assert forecast(sparse, 7) == forecast(RegularSeries.of(day0, DAY, values), 7)


def test_forecasts_are_reproducible() -> None:
    """Same series and seed, same intervals (the simulation is seeded)."""
    series = daily_series(60, 3)
    assert forecast(series, 10) == forecast(series, 10)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(min_value=-50, max_value=1e4, allow_nan=False), min_size=0, max_size=60),
    horizon=st.integers(min_value=1, max_value=30),
    confidence=st.floats(min_value=0.5, max_value=0.99),
)
def test_forecast_invariants(values: list[float], horizon: int, confidence: float) -> None:
    """Any history: never negative, lower <= mean <= upper, and running totals never decrease."""
    result = forecast(RegularSeries.of(START, DAY, values), horizon, confidence=confidence)
    assert len(result.points) == horizon
    previous = Decimal(0)
    for point in result.points:
        assert Decimal(0) <= point.lower <= point.mean <= point.upper
        assert Decimal(0) <= point.cumulative_lower <= point.cumulative_mean <= point.cumulative_upper
        assert point.cumulative_mean >= previous
        previous = point.cumulative_mean
