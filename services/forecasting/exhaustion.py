"""Will a budget run out before its period ends, and when? (pure; the forecast is an input)

The forecast's cumulative curves are read as piecewise linear between bucket boundaries, so a
period that ends, or a "now" that falls, inside a bucket takes the matching share of that bucket.

Because spend never decreases a running total, the total at time t is at least the budget exactly
when the crossing time is at most t; a quantile of the total at t is therefore a quantile of the
crossing time, and the upper cumulative bound gives the earliest crossing of the interval, the lower
bound the latest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from pydantic import BaseModel, ConfigDict

from services.forecasting.forecast import Forecast, ForecastMethod
from services.forecasting.series import DAY, FloatArray, require_aware, to_amount

DASH = " \u2013 "  # an en dash between the ends of a range, as people write it


class Exhaustion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    spent: Decimal
    budget: Decimal
    now: datetime
    period_end: datetime
    confidence: float
    method: ForecastMethod
    already_exceeded: bool
    runs_out: bool
    """The budget is reached before the period ends at the mean forecast."""
    may_run_out: bool
    """... at the upper bound of the interval (the pessimistic case)."""
    runs_out_at: datetime | None
    """When the mean forecast reaches the budget (None: not within the period, or already exceeded)."""
    runs_out_earliest: datetime | None
    """When the upper bound reaches it: the early end of the crossing's interval."""
    runs_out_latest: datetime | None
    """When the lower bound reaches it: the late end (None: possibly not within the period)."""
    projected_total: Decimal
    projected_total_lower: Decimal
    projected_total_upper: Decimal
    summary: str


def budget_exhaustion(
    *,
    spent: Decimal,
    budget: Decimal,
    now: datetime,
    period_end: datetime,
    forecast: Forecast,
    subject: str = "spend",
) -> Exhaustion:
    """Project the period's spend from `now` to `period_end` with `forecast` against `budget`.

    `spent` is the period's spend up to `now`. The forecast must cover [now, period_end): its first
    bucket may be the one in progress at `now` (only its remaining share counts).
    `subject` names who spends in the summary, e.g. "team acme".
    """
    require_aware(now, "now")
    require_aware(period_end, "period_end")
    if budget <= 0:
        raise ValueError(f"budget must be positive: {budget}")
    if period_end <= now:
        raise ValueError(f"period_end {period_end.isoformat()} is not after now {now.isoformat()}")
    if forecast.start > now or forecast.end < period_end:
        raise ValueError(
            f"forecast [{forecast.start.isoformat()}, {forecast.end.isoformat()}) does not cover "
            f"[{now.isoformat()}, {period_end.isoformat()})"
        )

    points = forecast.points
    curves = {
        "mean": [float(p.cumulative_mean) for p in points],
        "lower": [float(p.cumulative_lower) for p in points],
        "upper": [float(p.cumulative_upper) for p in points],
    }
    # Knots of the piecewise linear totals: now, every bucket boundary inside the period, period end.
    step = forecast.bucket.total_seconds()
    origin = forecast.start
    offsets = [(now - origin).total_seconds(), (period_end - origin).total_seconds()]
    inner = np.arange(1, len(points) + 1) * step
    knots = np.concatenate([[offsets[0]], inner[(inner > offsets[0]) & (inner < offsets[1])], [offsets[1]]])
    grid = np.concatenate([[0.0], inner])
    spent_f, budget_f = float(spent), float(budget)

    def totals(curve: list[float]) -> FloatArray:
        running = np.interp(knots, grid, np.concatenate([[0.0], curve]))
        return np.asarray(spent_f + running - running[0], dtype=np.float64)

    def crossing(curve: list[float]) -> datetime | None:
        values = totals(curve)
        above = np.flatnonzero(values >= budget_f)
        if spent_f >= budget_f or above.size == 0:
            return None
        i = int(above[0])
        # values[0] is `spent` < budget, so i >= 1 and the segment rises strictly.
        share = (budget_f - values[i - 1]) / (values[i] - values[i - 1])
        seconds = knots[i - 1] + share * (knots[i] - knots[i - 1])
        at = origin + timedelta(seconds=round(float(seconds)))
        return at if at < period_end else None

    exceeded = spent >= budget
    mean_at, earliest, latest = crossing(curves["mean"]), crossing(curves["upper"]), crossing(curves["lower"])
    total, total_lower, total_upper = (
        to_amount(totals(curves[name])[-1]) for name in ("mean", "lower", "upper")
    )
    percent = f"{forecast.confidence:.0%}"
    day = _day_formatter(forecast.bucket, now)
    who = subject[:1].upper() + subject[1:]
    if exceeded:
        summary = f"{who} has already passed {_usd(budget)}: {_usd(spent)} spent so far."
    elif mean_at is not None:
        late = day(latest) if latest is not None else "not before the period ends"
        early = day(earliest) if earliest is not None else day(mean_at)
        summary = (
            f"At this rate {subject} passes {_usd(budget)} on {day(mean_at)} "
            f"({percent} interval: {early}{DASH}{late})."
        )
    else:
        summary = (
            f"At this rate {subject} ends the period at {_usd(total)} ({percent} interval: "
            f"{_usd(total_lower)}{DASH}{_usd(total_upper)}), under {_usd(budget)}"
        )
        summary += f"; it could pass it as early as {day(earliest)}." if earliest is not None else "."
    return Exhaustion(
        spent=spent,
        budget=budget,
        now=now,
        period_end=period_end,
        confidence=forecast.confidence,
        method=forecast.method,
        already_exceeded=exceeded,
        runs_out=exceeded or mean_at is not None,
        may_run_out=exceeded or earliest is not None,
        runs_out_at=mean_at,
        runs_out_earliest=earliest,
        runs_out_latest=latest,
        projected_total=total,
        projected_total_lower=total_lower,
        projected_total_upper=total_upper,
        summary=summary,
    )


def _usd(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _day_formatter(bucket: timedelta, now: datetime) -> Callable[[datetime], str]:
    """Dates in `now`'s zone (the caller's choice of the reader's zone); hours too for sub-day buckets."""

    def show(at: datetime) -> str:
        local = at.astimezone(now.tzinfo)
        text = f"{local:%b} {local.day}"
        return f"{text} {local:%H:%M}" if bucket < DAY else text

    return show
