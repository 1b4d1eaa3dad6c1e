"""Regular time series of per-bucket amounts: the input of forecasting and anomaly detection.

Spend arrives as sparse (timestamp, amount) rows; both the models and the baselines need one value
per bucket on a fixed grid, where a bucket with no row means no spend (0), not "unknown".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import numpy.typing as npt

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Buckets are aligned to this instant: UTC midnight for daily buckets, whole UTC hours for hourly ones.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AMOUNT_QUANTUM = Decimal("1e-6")

Amount = Decimal | float | int
FloatArray = npt.NDArray[np.float64]


def require_aware(at: datetime, name: str = "timestamp") -> None:
    """Naive datetimes are ambiguous across hosts; every instant here carries its zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware: {at!r}")


def to_amount(value: float) -> Decimal:
    """A float result as a Decimal rounded to 1e-6 (half to even): the API edge of every result."""
    return Decimal(repr(float(value))).quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN)


def floor_to_bucket(at: datetime, bucket: timedelta, origin: datetime = EPOCH) -> datetime:
    """The start of the bucket holding `at`, on the grid `origin + k * bucket`."""
    require_aware(at)
    return origin + ((at - origin) // bucket) * bucket


def default_season_length(bucket: timedelta) -> int:
    """Weekly seasonality for daily buckets, daily for hourly ones, none (1) for anything else."""
    if bucket == DAY:
        return 7
    if bucket == HOUR:
        return 24
    return 1


@dataclass(frozen=True)
class RegularSeries:
    """One value per bucket from `start`, `bucket` apart; `values` is read-only float64."""

    start: datetime
    bucket: timedelta
    values: FloatArray = field(repr=False)

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        if self.bucket <= timedelta(0):
            raise ValueError(f"bucket must be positive: {self.bucket}")
        values = np.array(self.values, dtype=np.float64)  # a private copy: callers keep theirs mutable
        if values.ndim != 1:
            raise ValueError("values must be one-dimensional")
        if not np.all(np.isfinite(values)):
            raise ValueError("values must be finite (no NaN or infinity)")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    @classmethod
    def of(cls, start: datetime, bucket: timedelta, values: Sequence[Amount]) -> RegularSeries:
        """A series from plain amounts (Decimal, float or int), one per bucket."""
        return cls(start, bucket, np.array([float(v) for v in values], dtype=np.float64))

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def end(self) -> datetime:
        """The end (exclusive) of the last bucket."""
        return self.start + len(self) * self.bucket

    def time_at(self, index: int) -> datetime:
        """The start of bucket `index` (may be past the end, for forecasts)."""
        return self.start + index * self.bucket

    def tail(self, count: int) -> RegularSeries:
        """The last `count` buckets (all of them when shorter)."""
        skip = max(len(self) - count, 0)
        return RegularSeries(self.time_at(skip), self.bucket, self.values[skip:])


def regularize(
    points: Iterable[tuple[datetime, Amount]],
    *,
    bucket: timedelta,
    start: datetime | None = None,
    end: datetime | None = None,
    origin: datetime = EPOCH,
) -> RegularSeries:
    """Sum `points` into buckets on the grid `origin + k * bucket`; buckets without points are 0.

    `start`/`end` (end exclusive) are floored to the grid and default to the first and last point's
    buckets; a point outside them is an error, since silently dropping spend would skew every result.
    """
    require_aware(origin, "origin")
    rows = [(at, float(amount)) for at, amount in points]
    for at, _ in rows:
        require_aware(at)
    if start is None:
        if not rows:
            raise ValueError("start is required when there are no points")
        start = min(at for at, _ in rows)
    if end is None:
        end = floor_to_bucket(max(at for at, _ in rows) if rows else start, bucket, origin) + bucket
    first = floor_to_bucket(start, bucket, origin)
    # Ceil the end so that a partial last bucket is still included.
    count = -((first - end) // bucket)
    if count < 0:
        raise ValueError(f"end {end} is before start {start}")
    values = np.zeros(count, dtype=np.float64)
    for at, amount in rows:
        index = (at - first) // bucket
        if not 0 <= index < count:
            raise ValueError(f"point at {at.isoformat()} is outside [{first.isoformat()}, {end.isoformat()})")
        values[index] += amount
    return RegularSeries(first, bucket, values)
