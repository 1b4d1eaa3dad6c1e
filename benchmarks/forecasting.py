"""Time per forecast and per anomaly scan on a 90-day hourly spend series (p50/p95, single thread).

.venv/bin/python benchmarks/forecasting.py [--runs 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.forecasting
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import percentile

from services.forecasting import AnomalyConfig, check_latest, forecast, scan
from tests.forecasting.synthetic import hourly_series


def measure(name: str, runs: int, call: Callable[[int], object]) -> None:
    samples = []
    for run in range(runs):
        started = time.perf_counter()
        call(run)
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{name:<44} p50 {percentile(samples, 0.5):8.2f} ms   p95 {percentile(samples, 0.95):8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    series = [hourly_series(90, seed)[0] for seed in range(runs)]
    config = AnomalyConfig(min_deviation=0.5)
    print(f"90-day hourly series: {len(series[0])} buckets, {runs} runs each")
    measure("forecast, next 24 h", runs, lambda i: forecast(series[i], 24))
    measure("forecast, next 7 days (168 h)", runs, lambda i: forecast(series[i], 168))
    measure("forecast, next 30 days (720 h)", runs, lambda i: forecast(series[i], 720))
    measure("anomaly scan, whole series", runs, lambda i: scan(series[i], config))
    measure("anomaly check, latest point", runs, lambda i: check_latest(series[i], config))


if __name__ == "__main__":
    main()
