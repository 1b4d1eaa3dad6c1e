"""Points that depart from their series' own seasonal baseline (pure, robust statistics).

For each point t, with P buckets per season (hour-of-week for hourly series, day-of-week for daily):

* seasonal(t) = the median of the same phase over the last K seasons (x[t-P], ..., x[t-K*P]): a spike
  in one past season cannot move it, and the daily peak is expected at the peak hour;
* residuals of recent points against their own seasonal medians, relative to their level (spend noise
  grows with spend), are pooled over the last N buckets at the same time of day (± w buckets; the
  whole window for daily series). Their median is the baseline's lag behind a trend, added back;
  their scaled MAD times the level at t is the spread: a noise level for this time of day, robust to
  past anomalies in the pool;
* score = (observed - expected) / spread, a robust z; flagged when |score| >= threshold *and*
  |observed - expected| >= min_deviation, so a near-zero series does not alert on pennies.

No point is judged before K seasons plus N buckets of history exist: that is the warm-up (five
weeks for hourly series by default, seven for daily ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from services.forecasting.series import DAY, HOUR, FloatArray, RegularSeries

# MAD of a normal sample is 0.6745 sigma.
MAD_TO_SIGMA = 1.4826


class Direction(StrEnum):
    SPIKE = "spike"
    DROP = "drop"


class Anomaly(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime = Field(description="Start of the anomalous bucket.")
    observed: float
    expected: float
    spread: float = Field(description="The robust noise level the deviation was measured against.")
    score: float = Field(description="Robust z: (observed - expected) / spread.")
    direction: Direction


class AnomalyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    season_length: int | None = Field(
        default=None, ge=1, description="Buckets per season: default 168 (a week) hourly, 7 daily, else 1."
    )
    seasons: int = Field(default=3, ge=1, description="Seasons of history behind each seasonal baseline (K).")
    noise_cycle: int | None = Field(
        default=None, ge=1, description="Buckets per cycle of noise level: default 24 hourly, else 1."
    )
    noise_window: int | None = Field(
        default=None,
        ge=1,
        description="Buckets of recent residuals pooled for spread: default 336 (two weeks) hourly, else 28.",
    )
    neighbours: int = Field(
        default=3, ge=0, description="Neighbouring buckets of the cycle pooled on each side."
    )
    threshold: float = Field(default=5.5, gt=0, description="Minimum |robust z| to flag.")
    min_deviation: float = Field(
        default=1.0, gt=0, description="Minimum |observed - expected| to flag, in the series' units."
    )

    def resolve(self, series: RegularSeries) -> _Plan:
        hourly = series.bucket == HOUR
        period = self.season_length or (168 if hourly else 7 if series.bucket == DAY else 1)
        cycle = self.noise_cycle or (24 if hourly else 1)
        window = self.noise_window or (336 if hourly else 28)
        cycles = max(window // cycle, 1)
        # Neighbours stay inside one cycle and strictly in the past of the judged point.
        reach = min(self.neighbours, (cycle - 1) // 2)
        return _Plan(
            period, self.seasons, cycle, cycles, reach, self.seasons * period + cycles * cycle + reach
        )

    def warm_up(self, series: RegularSeries) -> int:
        """Buckets of history needed before the first point can be judged."""
        return self.resolve(series).warm_up


@dataclass(frozen=True)
class _Plan:
    period: int
    seasons: int
    cycle: int
    cycles: int
    reach: int
    warm_up: int


class LatestCheck(BaseModel):
    """The verdict on the newest bucket; `anomaly` is None when it is normal or not yet judgeable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    warming_up: bool
    anomaly: Anomaly | None


def scan(series: RegularSeries, config: AnomalyConfig | None = None) -> list[Anomaly]:
    """Every anomalous point of `series`, oldest first, each judged on the history before it only."""
    config = config or AnomalyConfig()
    first = config.warm_up(series)
    if len(series) <= first:
        return []
    observed = series.values[first:]
    expected, spread = _baseline(series, config, first, len(series))
    return _flag(series, config, first, observed, expected, spread)


def check_latest(series: RegularSeries, config: AnomalyConfig | None = None) -> LatestCheck:
    """Judge only the newest bucket against its history (cheap: what a periodic check runs)."""
    config = config or AnomalyConfig()
    if len(series) == 0:
        raise ValueError("the series is empty")
    last = len(series) - 1
    at = series.time_at(last)
    if last < config.warm_up(series):
        return LatestCheck(at=at, warming_up=True, anomaly=None)
    expected, spread = _baseline(series, config, last, last + 1)
    found = _flag(series, config, last, series.values[last:], expected, spread)
    return LatestCheck(at=at, warming_up=False, anomaly=found[0] if found else None)


def _baseline(
    series: RegularSeries, config: AnomalyConfig, begin: int, end: int
) -> tuple[FloatArray, FloatArray]:
    """Expected value and spread for the points begin..end-1 (begin >= warm-up), vectorised."""
    x = series.values
    plan = config.resolve(series)
    # Seasonal medians from `first` on: every residual the pools below will read.
    first = begin - plan.cycles * plan.cycle - plan.reach
    seasonal = np.median(
        np.stack([x[first - k * plan.period : end - k * plan.period] for k in range(1, plan.seasons + 1)]),
        axis=0,
    )
    # Spend noise grows with its level (more calls, bigger bursts): residuals are pooled relative to
    # their baseline, so a quiet weekend hour is not judged by the noise of busy weekdays. Near zero,
    # min_deviation is the unit instead, which keeps empty buckets from dividing by nothing.
    unit = np.maximum(np.abs(seasonal), config.min_deviation)
    relative = (x[first:end] - seasonal) / unit
    offset = begin - first
    pool = np.stack(
        [
            relative[offset - shift : end - first - shift]
            for d in range(1, plan.cycles + 1)
            for j in range(-plan.reach, plan.reach + 1)
            if (shift := d * plan.cycle - j) > 0
        ]
    )
    # The median recent residual is the baseline's lag behind a trend (or its lead over a decline).
    centre = np.median(pool, axis=0)
    spread = MAD_TO_SIGMA * np.median(np.abs(pool - centre), axis=0) * unit[offset:]
    expected = seasonal[offset:] + centre * unit[offset:]
    # A spread floor at which exactly min_deviation reaches the threshold: flat series get finite
    # scores, and the two flagging conditions agree there.
    floor = config.min_deviation / config.threshold
    return np.asarray(expected, dtype=np.float64), np.maximum(spread, floor)


def _flag(
    series: RegularSeries,
    config: AnomalyConfig,
    begin: int,
    observed: FloatArray,
    expected: FloatArray,
    spread: FloatArray,
) -> list[Anomaly]:
    deviation = observed - expected
    score = deviation / spread
    hits = np.flatnonzero((np.abs(score) >= config.threshold) & (np.abs(deviation) >= config.min_deviation))
    return [
        Anomaly(
            at=series.time_at(begin + int(i)),
            observed=float(observed[i]),
            expected=float(expected[i]),
            spread=float(spread[i]),
            score=float(score[i]),
            direction=Direction.SPIKE if deviation[i] > 0 else Direction.DROP,
        )
        for i in hits
    ]
