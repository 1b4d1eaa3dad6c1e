"""Spend forecasts with prediction intervals, per bucket and cumulative (pure, no I/O).

The model follows the history length: at least two full seasons → ETS with additive damped trend and
additive seasonality; 10 buckets or more → ETS with damped trend; 5 to 9 → ETS level only; fewer →
the mean rate with an interval from the sample spread; nothing but zeros → a zero forecast.

Intervals come from simulated future paths of the fitted model (seeded, so a forecast is
reproducible). Spend cannot be negative, so each path is clipped at 0 before anything is read from
it; the cumulative interval is taken from the paths' running sums, which is what a budget question
needs: per-bucket bounds summed over a month would overstate the spread of the total many times.
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from services.forecasting.series import FloatArray, RegularSeries, default_season_length, to_amount

MIN_MODEL_POINTS = 5
MIN_TREND_POINTS = 10  # statsmodels' heuristic initialisation needs 10 observations


class ForecastMethod(StrEnum):
    ZERO = "zero"
    MEAN_RATE = "mean_rate"
    ETS_LEVEL = "ets_level"
    ETS_TREND = "ets_damped_trend"
    ETS_SEASONAL = "ets_damped_trend_seasonal"


class ForecastPoint(BaseModel):
    """One future bucket: its expected amount and interval, and the same for the running total."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    mean: Decimal
    lower: Decimal
    upper: Decimal
    cumulative_mean: Decimal = Field(
        description="Expected total from the forecast start to this bucket's end."
    )
    cumulative_lower: Decimal
    cumulative_upper: Decimal


class Forecast(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: ForecastMethod
    bucket: timedelta
    season_length: int = Field(description="Buckets per season used by the model (1: none).")
    confidence: float
    history_buckets: int = Field(description="Buckets the model learnt from (leading zeros excluded).")
    points: tuple[ForecastPoint, ...]

    @property
    def start(self) -> datetime:
        return self.points[0].start

    @property
    def end(self) -> datetime:
        """The end (exclusive) of the last forecast bucket."""
        return self.points[-1].start + self.bucket


def seasonal_minimum(season_length: int) -> int:
    """History needed for the seasonal model: two full seasons, and what the heuristic start needs."""
    return max(2 * season_length, MIN_TREND_POINTS + 2 * (season_length // 2))


def forecast(
    series: RegularSeries,
    horizon: int,
    *,
    season_length: int | None = None,
    confidence: float = 0.9,
    simulations: int = 1000,
    seed: int = 0,
) -> Forecast:
    """Forecast the `horizon` buckets after `series`, with `confidence` prediction intervals.

    `season_length` defaults by bucket size (7 for daily, 24 for hourly; 1 means no seasonality).
    Buckets before the first non-zero value are ignored: the subject was not spending yet.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1: {horizon}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1): {confidence}")
    if simulations < 100:
        raise ValueError(f"simulations must be at least 100: {simulations}")
    period = default_season_length(series.bucket) if season_length is None else season_length
    if period < 1:
        raise ValueError(f"season_length must be at least 1: {period}")

    nonzero = np.flatnonzero(series.values)
    history = series.values[nonzero[0] :] if nonzero.size else series.values[:0]
    rng = np.random.default_rng(seed)
    if history.size == 0:
        method, mean, paths = ForecastMethod.ZERO, np.zeros(horizon), np.zeros((horizon, 1))
    else:
        method, mean, paths = _model(history, horizon, period, simulations, rng)

    tail = (1 - confidence) / 2
    mean = np.clip(mean, 0.0, None)
    paths = np.clip(paths, 0.0, None)
    running = np.cumsum(paths, axis=0)
    lower, upper = np.quantile(paths, [tail, 1 - tail], axis=1)
    cum_lower, cum_upper = np.quantile(running, [tail, 1 - tail], axis=1)
    cum_mean = np.cumsum(mean)
    points = tuple(
        ForecastPoint(
            start=series.time_at(len(series) + step),
            # Quantiles from a finite sample could, for a near-degenerate model, land a hair on the
            # wrong side of the analytic mean; the interval must contain it.
            mean=to_amount(mean[step]),
            lower=to_amount(min(lower[step], mean[step])),
            upper=to_amount(max(upper[step], mean[step])),
            cumulative_mean=to_amount(cum_mean[step]),
            cumulative_lower=to_amount(min(cum_lower[step], cum_mean[step])),
            cumulative_upper=to_amount(max(cum_upper[step], cum_mean[step])),
        )
        for step in range(horizon)
    )
    used_period = period if method is ForecastMethod.ETS_SEASONAL else 1
    return Forecast(
        method=method,
        bucket=series.bucket,
        season_length=used_period,
        confidence=confidence,
        history_buckets=int(history.size),
        points=points,
    )


def _model(
    history: FloatArray, horizon: int, period: int, simulations: int, rng: np.random.Generator
) -> tuple[ForecastMethod, FloatArray, FloatArray]:
    """The method for this much history, its mean forecast and simulated paths (horizon x simulations)."""
    n = history.size
    if period > 1 and n >= seasonal_minimum(period):
        method = ForecastMethod.ETS_SEASONAL
    elif n >= MIN_TREND_POINTS:
        method = ForecastMethod.ETS_TREND
    elif n >= MIN_MODEL_POINTS:
        method = ForecastMethod.ETS_LEVEL
    else:
        return ForecastMethod.MEAN_RATE, *_mean_rate(history, horizon, simulations, rng)
    try:
        return method, *_ets(method, history, horizon, period, simulations, rng)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        # An optimiser that fails on a degenerate history is no reason to return nothing.
        return ForecastMethod.MEAN_RATE, *_mean_rate(history, horizon, simulations, rng)


def _ets(
    method: ForecastMethod,
    history: FloatArray,
    horizon: int,
    period: int,
    simulations: int,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray]:
    seasonal = method is ForecastMethod.ETS_SEASONAL
    trended = method is not ForecastMethod.ETS_LEVEL
    model = ETSModel(
        history,
        error="add",
        trend="add" if trended else None,
        damped_trend=trended,
        seasonal="add" if seasonal else None,
        seasonal_periods=period if seasonal else None,
        # The heuristic start (from the first seasons) leaves only the smoothing parameters to
        # optimise: ~50x faster than estimating 24 initial seasonal states on an hourly series.
        initialization_method="heuristic" if trended else "estimated",
    )
    with warnings.catch_warnings():
        # Convergence chatter from the optimiser; a poor fit shows in the interval width instead.
        warnings.simplefilter("ignore")
        fitted = model.fit(disp=False)
        mean = np.asarray(fitted.forecast(horizon), dtype=np.float64)
        sigma = math.sqrt(max(float(fitted.scale), 0.0))
        # Our own seeded errors: statsmodels' seeding argument changed name between releases.
        errors = rng.standard_normal((horizon, simulations)) * sigma
        paths = np.asarray(
            fitted.simulate(horizon, anchor="end", repetitions=simulations, random_errors=errors),
            dtype=np.float64,
        ).reshape(horizon, simulations)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(paths))):
        raise FloatingPointError("non-finite forecast")
    return mean, paths


def _mean_rate(
    history: FloatArray, horizon: int, simulations: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """The historical mean per bucket, with paths of independent normal buckets around it.

    The spread is the sample standard deviation widened for the uncertainty of the mean itself; with
    a single bucket there is no spread to measure, so that bucket's own size stands in for it.
    """
    n = history.size
    level = float(np.mean(history))
    spread = float(np.std(history, ddof=1)) if n > 1 else abs(level)
    mean = np.full(horizon, level)
    # Uncertainty of the level is shared by every future bucket (one draw per path), the bucket
    # noise is not: the running total's spread then grows as it should, k * sd / sqrt(n) + sqrt(k) * sd.
    shared = rng.standard_normal((1, simulations)) * spread / math.sqrt(n)
    noise = rng.standard_normal((horizon, simulations)) * spread
    return mean, level + shared + noise
