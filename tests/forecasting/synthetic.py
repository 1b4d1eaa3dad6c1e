"""Synthetic spend series from a known process: daily and weekly cycles, trend, noise (seeded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from services.forecasting.series import DAY, HOUR, FloatArray, RegularSeries

START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, midnight UTC


def hourly_level(hours: int, *, base: float = 10.0, growth_per_week: float = 0.02) -> FloatArray:
    """Expected spend per hour: busy afternoons, quiet nights, weekends at 55%, slow growth."""
    t = np.arange(hours, dtype=np.float64)
    hour_of_day = t % 24
    day_of_week = (t // 24) % 7
    daily = 0.25 + 0.75 * np.exp(-0.5 * ((hour_of_day - 14.0) / 3.5) ** 2)
    weekly = np.where(day_of_week >= 5, 0.55, 1.0)
    trend = 1.0 + growth_per_week * t / 168.0
    return np.asarray(base * daily * weekly * trend, dtype=np.float64)


def hourly_series(
    days: int, seed: int, *, base: float = 10.0, noise: float = 0.08, start: datetime = START
) -> tuple[RegularSeries, FloatArray]:
    """An hourly spend series and its noise-free level; noise sd is `noise` times the level."""
    rng = np.random.default_rng(seed)
    level = hourly_level(days * 24, base=base)
    values = np.clip(level + rng.normal(0.0, 1.0, level.size) * noise * level, 0.0, None)
    return RegularSeries(start, HOUR, values), level


def daily_series(
    days: int,
    seed: int,
    *,
    base: float = 100.0,
    slope: float = 0.3,
    weekly_amplitude: float = 25.0,
    noise_sd: float = 6.0,
    start: datetime = START,
) -> RegularSeries:
    """Daily spend: additive linear trend, additive weekly cycle (low weekends), additive gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days, dtype=np.float64)
    weekday = t % 7
    weekly = np.where(weekday >= 5, -weekly_amplitude, weekly_amplitude * 2 / 5)
    values = base + slope * t + weekly + rng.normal(0.0, noise_sd, days)
    return RegularSeries(start, DAY, np.clip(values, 0.0, None))


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)
