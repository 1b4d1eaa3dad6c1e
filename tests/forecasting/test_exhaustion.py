"""Budget exhaustion: exact crossing times on linear spend, no crossing, already exceeded."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.forecasting.exhaustion import budget_exhaustion
from services.forecasting.forecast import Forecast, ForecastMethod, ForecastPoint, forecast
from services.forecasting.series import DAY, HOUR, RegularSeries

NOV1 = datetime(2025, 11, 1, tzinfo=UTC)
NOV30_END = datetime(2025, 12, 1, tzinfo=UTC)


def linear(
    start: datetime, buckets: int, low: str, mean: str, high: str, bucket: timedelta = DAY
) -> Forecast:
    """A forecast of constant spend per bucket: `mean`, interval [low, high], running totals linear."""
    lo, mid, hi = Decimal(low), Decimal(mean), Decimal(high)
    return Forecast(
        method=ForecastMethod.ETS_TREND,
        bucket=bucket,
        season_length=1,
        confidence=0.9,
        history_buckets=30,
        points=tuple(
            ForecastPoint(
                start=start + i * bucket,
                mean=mid,
                lower=lo,
                upper=hi,
                cumulative_mean=mid * (i + 1),
                cumulative_lower=lo * (i + 1),
                cumulative_upper=hi * (i + 1),
            )
            for i in range(buckets)
        ),
    )


def test_linear_spend_crosses_on_the_exact_day_with_its_interval() -> None:
    """$200 spent by Nov 11, $20/day ($16-$25): $500 is reached Nov 26, interval Nov 23 - Nov 29 18:00."""
    now = datetime(2025, 11, 11, tzinfo=UTC)
    result = budget_exhaustion(
        spent=Decimal(200),
        budget=Decimal(500),
        now=now,
        period_end=NOV30_END,
        forecast=linear(now, 20, "16", "20", "25"),
        subject="team acme",
    )
    # 300 left at 20/day: 15 days; at 25/day: 12 days; at 16/day: 18.75 days (Nov 29 18:00).
    assert result.runs_out
    assert result.may_run_out
    assert not result.already_exceeded
    assert result.runs_out_at == datetime(2025, 11, 26, tzinfo=UTC)
    assert result.runs_out_earliest == datetime(2025, 11, 23, tzinfo=UTC)
    assert result.runs_out_latest == datetime(2025, 11, 29, 18, tzinfo=UTC)
    assert result.projected_total == Decimal("600.000000")
    assert result.projected_total_lower == Decimal("520.000000")
    assert result.projected_total_upper == Decimal("700.000000")
    assert (
        result.summary == "At this rate team acme passes $500.00 on Nov 26 (90% interval: Nov 23 – Nov 29)."  # noqa: RUF001
    )


def test_now_inside_a_bucket_counts_only_its_remaining_share() -> None:
    """At 18:00 only a quarter of today's forecast is still to come; the crossing is interpolated in hours."""
    now = datetime(2025, 11, 11, 18, tzinfo=UTC)
    result = budget_exhaustion(
        spent=Decimal(100),
        budget=Decimal(145),
        now=now,
        period_end=NOV30_END,
        forecast=linear(datetime(2025, 11, 11, tzinfo=UTC), 20, "20", "20", "20"),
    )
    # 45 left at 20/day from 18:00: 5 by midnight, then 40 more = 2 days -> Nov 14 00:00.
    assert result.runs_out_at == datetime(2025, 11, 14, tzinfo=UTC)
    assert result.projected_total == Decimal(100) + Decimal(5) + Decimal(19 * 20)


def test_period_end_inside_a_bucket_takes_its_share() -> None:
    """A period ending at noon counts half of that day's forecast in the projected total."""
    result = budget_exhaustion(
        spent=Decimal(0),
        budget=Decimal(1000),
        now=NOV1,
        period_end=datetime(2025, 11, 3, 12, tzinfo=UTC),
        forecast=linear(NOV1, 5, "8", "10", "12"),
    )
    assert result.projected_total == Decimal("25.000000")
    assert result.projected_total_lower == Decimal("20.000000")
    assert result.projected_total_upper == Decimal("30.000000")


def test_no_crossing_within_the_period() -> None:
    """$10/day from $50 on a $500 budget for November: ends at $350, well under, no date."""
    result = budget_exhaustion(
        spent=Decimal(50),
        budget=Decimal(500),
        now=datetime(2025, 11, 1, tzinfo=UTC),
        period_end=NOV30_END,
        forecast=linear(NOV1, 30, "8", "10", "12"),
        subject="team acme",
    )
    assert not result.runs_out
    assert not result.may_run_out
    assert not result.already_exceeded
    assert result.runs_out_at is result.runs_out_earliest is result.runs_out_latest is None
    assert result.projected_total == Decimal("350.000000")
    assert result.summary == (
        "At this rate team acme ends the period at $350.00 (90% interval: $290.00 – $410.00), under $500.00."  # noqa: RUF001
    )


def test_only_the_upper_bound_crosses() -> None:
    """Under budget at the mean, over it at the upper bound: may run out, and from when."""
    result = budget_exhaustion(
        spent=Decimal(0),
        budget=Decimal(330),
        now=NOV1,
        period_end=NOV30_END,
        forecast=linear(NOV1, 30, "8", "10", "12"),
        subject="team acme",
    )
    assert not result.runs_out
    assert result.may_run_out
    assert result.runs_out_at is None
    assert result.runs_out_earliest == datetime(2025, 11, 28, 12, tzinfo=UTC)
    assert result.summary.endswith("under $330.00; it could pass it as early as Nov 28.")


def test_lower_bound_not_crossing_is_reported_open_ended() -> None:
    """Crossing at the mean but not at the lower bound: the interval's late end is the period end."""
    result = budget_exhaustion(
        spent=Decimal(0),
        budget=Decimal(270),
        now=NOV1,
        period_end=NOV30_END,
        forecast=linear(NOV1, 30, "8", "10", "12"),
    )
    assert result.runs_out_at == datetime(2025, 11, 28, tzinfo=UTC)
    assert result.runs_out_latest is None
    assert result.summary == (
        "At this rate spend passes $270.00 on Nov 28 (90% interval: Nov 23 – not before the period ends)."  # noqa: RUF001
    )


def test_budget_already_exceeded() -> None:
    """Spend above the budget already: exceeded, runs out, no future crossing date."""
    result = budget_exhaustion(
        spent=Decimal("520.5"),
        budget=Decimal(500),
        now=datetime(2025, 11, 20, tzinfo=UTC),
        period_end=NOV30_END,
        forecast=linear(datetime(2025, 11, 20, tzinfo=UTC), 11, "8", "10", "12"),
        subject="team acme",
    )
    assert result.already_exceeded
    assert result.runs_out
    assert result.may_run_out
    assert result.runs_out_at is None
    assert result.projected_total == Decimal("630.500000")
    assert result.summary == "Team acme has already passed $500.00: $520.50 spent so far."


def test_hourly_buckets_show_the_hour() -> None:
    """With hourly buckets the summary names the hour of the crossing."""
    now = datetime(2025, 11, 30, 6, tzinfo=UTC)
    result = budget_exhaustion(
        spent=Decimal(90),
        budget=Decimal(100),
        now=now,
        period_end=NOV30_END,
        forecast=linear(now, 18, "1", "1", "1", bucket=HOUR),
    )
    assert result.runs_out_at == datetime(2025, 11, 30, 16, tzinfo=UTC)
    assert "on Nov 30 16:00" in result.summary


def test_forecast_must_cover_the_rest_of_the_period() -> None:
    """A forecast starting after now or ending before the period end is refused."""
    with pytest.raises(ValueError, match="does not cover"):
        budget_exhaustion(
            spent=Decimal(0),
            budget=Decimal(10),
            now=NOV1,
            period_end=NOV30_END,
            forecast=linear(NOV1, 10, "1", "1", "1"),
        )


def test_end_to_end_from_a_steady_history() -> None:
    """A month of exactly $10/day forecast by the model crosses a $250 budget within minutes of Nov 26."""
    history = RegularSeries.of(datetime(2025, 10, 1, tzinfo=UTC), DAY, [10] * 31)
    fc = forecast(history, 30)
    result = budget_exhaustion(
        spent=Decimal(50),
        budget=Decimal(250),
        now=NOV1 + timedelta(days=5),
        period_end=NOV30_END,
        forecast=fc,
    )
    assert result.runs_out_at is not None
    assert abs(result.runs_out_at - datetime(2025, 11, 26, tzinfo=UTC)) < timedelta(minutes=5)
