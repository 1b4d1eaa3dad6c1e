"""Anomalies against a series' own seasonal baseline: precision/recall on injected spikes and drops."""

from datetime import timedelta

import numpy as np

from services.forecasting.anomaly import AnomalyConfig, Direction, check_latest, scan
from services.forecasting.series import HOUR, RegularSeries
from tests.forecasting.synthetic import START, daily_series, hourly_series

NOISE = 0.08  # hourly_series' noise sd, relative to the level
CONFIG = AnomalyConfig(min_deviation=0.5)
# Sizes in noise standard deviations: clear anomalies, a drop to zero (an outage) being 12.5.
SPIKES = (8.0, 12.0, 20.0)
DROPS = (8.0, 10.0, 12.5)


def _spaced_slots(rng: np.random.Generator, first: int, end: int) -> list[int]:
    """Six points after warm-up, none two at the same hour of the week: each a separate incident.

    (Two outages at one hour in consecutive weeks would be two of the three samples of that hour's
    seasonal median: a new weekly pattern, not an anomaly the median should ignore.)
    """
    while True:
        slots = [int(i) for i in rng.choice(np.arange(first, end), size=6, replace=False)]
        if len({i % 168 for i in slots}) == 6:
            return slots


def test_injected_spikes_and_drops_are_found_with_high_precision_and_recall() -> None:
    """24 seeded 9-week hourly series, 6 anomalies each (3 sizes each way): precision and recall >= 0.9."""
    true_positive = false_positive = missed = 0
    direction_errors = 0
    for seed in range(24):
        series, level = hourly_series(63, seed)
        values = series.values.copy()
        rng = np.random.default_rng(10_000 + seed)
        first = CONFIG.warm_up(series)
        slots = _spaced_slots(rng, first, len(values))
        injected: dict[int, Direction] = {}
        for n, index in enumerate(slots):
            size = (SPIKES + DROPS)[n] * NOISE * level[index]
            if n < 3:
                values[index] = level[index] + size
                injected[index] = Direction.SPIKE
            else:
                values[index] = max(level[index] - size, 0.0)
                injected[index] = Direction.DROP
        found = {
            int((a.at - series.start) / HOUR): a.direction
            for a in scan(RegularSeries(series.start, HOUR, values), CONFIG)
        }
        true_positive += len(found.keys() & injected.keys())
        false_positive += len(found.keys() - injected.keys())
        missed += len(injected.keys() - found.keys())
        direction_errors += sum(found[i] is not injected[i] for i in found.keys() & injected.keys())
    precision = true_positive / (true_positive + false_positive)
    recall = true_positive / (true_positive + missed)
    report = (
        f"precision {precision:.3f} recall {recall:.3f} "
        f"(tp {true_positive}, fp {false_positive}, fn {missed})"
    )
    print(report)
    assert precision >= 0.9, report
    assert recall >= 0.9, report
    assert direction_errors == 0


def test_a_clean_series_with_a_strong_daily_cycle_raises_nothing() -> None:
    """A 12-week series whose afternoons are 4x the nights and weekends 55%: the peak is no anomaly."""
    series, _ = hourly_series(84, seed=100)
    assert scan(series, CONFIG) == []


def test_false_alarm_rate_on_clean_series_is_tiny_and_never_at_the_peak() -> None:
    """Ten clean 12-week series (~11,700 judged hours): at most one flag, and none at the 12-16h peak."""
    flagged = []
    judged = 0
    for seed in range(100, 110):
        series, _ = hourly_series(84, seed)
        judged += len(series) - CONFIG.warm_up(series)
        flagged += scan(series, CONFIG)
    print(f"{len(flagged)} false flags in {judged} judged hours")
    assert len(flagged) <= 1, flagged
    assert all(not 12 <= a.at.hour <= 16 for a in flagged), flagged


def test_near_zero_series_do_not_alert_on_noise() -> None:
    """Cents of spend jumping tenfold stay under min_deviation; the same jump of dollars is flagged."""
    series, _ = hourly_series(42, seed=3, base=0.02)
    values = series.values.copy()
    values[-1] = values[-1] * 10 + 0.3
    assert (
        check_latest(RegularSeries(series.start, HOUR, values), AnomalyConfig(min_deviation=1.0)).anomaly
        is None
    )
    loud = RegularSeries(series.start, HOUR, values * 100)
    anomaly = check_latest(loud, AnomalyConfig(min_deviation=1.0)).anomaly
    assert anomaly is not None
    assert anomaly.direction is Direction.SPIKE


def test_no_flags_during_warm_up() -> None:
    """Before three weeks of seasons plus two of residuals, nothing is judged, however wild the points."""
    series, _ = hourly_series(34, seed=4)
    values = series.values.copy()
    values[::50] *= 20
    wild = RegularSeries(series.start, HOUR, values)
    assert CONFIG.warm_up(wild) == 3 * 168 + 14 * 24 + 3
    assert scan(wild, CONFIG) == []
    latest = check_latest(wild, CONFIG)
    assert latest.warming_up
    assert latest.anomaly is None


def test_latest_check_matches_the_scan_and_reports_baseline() -> None:
    """The cheap latest-point call judges the newest bucket exactly as the full scan does."""
    full, full_level = hourly_series(50, seed=5)
    hours = 49 * 24 + 15  # up to Monday 14:00 of week 8, a busy hour
    series = RegularSeries(full.start, HOUR, full.values[:hours])
    level = full_level[:hours]
    values = series.values.copy()
    values[-1] = 0.0  # an outage
    drop = RegularSeries(series.start, HOUR, values)
    latest = check_latest(drop, CONFIG)
    from_scan = [a for a in scan(drop, CONFIG) if a.at == drop.time_at(len(drop) - 1)]
    assert not latest.warming_up
    assert latest.at == START + timedelta(hours=len(drop) - 1)
    assert latest.anomaly is not None
    assert [latest.anomaly] == from_scan
    assert latest.anomaly.direction is Direction.DROP
    assert abs(latest.anomaly.expected - level[-1]) < 0.25 * level[-1]
    assert latest.anomaly.score == (latest.anomaly.observed - latest.anomaly.expected) / latest.anomaly.spread
    normal = check_latest(series, CONFIG)
    assert not normal.warming_up
    assert normal.anomaly is None


def test_daily_series_use_day_of_week_baselines() -> None:
    """Daily spend with low weekends: no weekend flags, but a tripled Tuesday is a spike."""
    series = daily_series(120, seed=6, noise_sd=3.0)
    assert scan(series, CONFIG) == []
    values = series.values.copy()
    tuesday = 113  # START is a Monday
    values[tuesday] *= 3
    found = scan(RegularSeries(series.start, series.bucket, values), CONFIG)
    assert [(a.at, a.direction) for a in found] == [(series.time_at(tuesday), Direction.SPIKE)]
