"""Period bounds of a budget (pure). Calendar periods are UTC; rolling windows count whole hours."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from shared.messages.budgets import Period

HOUR = timedelta(hours=1)


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# Admission asks this for every event and budget, twice, with the transaction's rows locked; a
# batch's events share a few instants, so answers are remembered (pure, so safe to).
@functools.lru_cache(maxsize=4096)
def period_bounds(
    period: Period, at: datetime, rolling_hours: int | None = None
) -> tuple[datetime, datetime]:
    """[start, end) of the period that contains `at`."""
    at = at.astimezone(UTC)
    if period is Period.DAY:
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    if period is Period.WEEK:
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period is Period.MONTH:
        start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (start + timedelta(days=32)).replace(day=1)
        return start, following
    if rolling_hours is None:
        raise ValueError("a rolling period needs rolling_hours")
    end = hour_of(at) + HOUR
    return end - rolling_hours * HOUR, end
