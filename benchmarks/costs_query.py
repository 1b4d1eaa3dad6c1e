"""Benchmark: the 90-day dashboard query of GET /api/v1/costs against ClickHouse (chdb).

Fills `token_events` with `--events` calls spread over 90 days (8 models, 20 projects, 200 users,
5 tags values) for one team plus the same for a second team, then times, in one run:
  - the dashboard query: 90 days, day buckets, grouped by model (rollup path);
  - the same grouped by project with hour buckets (rollup path, 2,160 points per group);
  - by tag (the tag rollup);
  - the same 90-day totals computed from raw events (FINAL), to show what the rollups save.
Target (issue 5): the 90-day dashboard query under 100 ms.

    .venv/bin/python benchmarks/costs_query.py [--events 1000000] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import percentile

from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from shared.db.clickhouse import ChdbClickHouse
from shared.db.clickhouse.migrations import apply_migrations
from shared.messages.telemetry import CostQuery, TokenEvent, TokenEventColumns

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("gemini", "gemini-2.5-pro"),
    ("gemini", "gemini-2.5-flash"),
    ("mistral", "mistral-large-latest"),
]
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # day-aligned, as dashboards ask
START = END - timedelta(days=90)


async def fill(store: TokenCostStore, team: str, events: int) -> float:
    prices = GenaiPricesSource()
    step = (END - START) / events
    chunk = 50_000
    began = time.perf_counter()
    for first in range(0, events, chunk):
        batch = [
            TokenEvent.model_validate(
                {
                    "id": f"{team}-{i}",
                    "timestamp": START + step * i,
                    "provider": MODELS[i % 8][0],
                    "model": MODELS[i % 8][1],
                    "input_tokens": 200 + i % 3000,
                    "output_tokens": 20 + i % 700,
                    "cache_read_tokens": (i % 4) * 100,
                    "latency_ms": 50.0 + i % 2000,
                    "user": f"user-{i % 200}",
                    "project": f"project-{i % 20}",
                    "tags": {"feature": f"f{i % 5}"},
                }
            )
            for i in range(first, min(first + chunk, events))
        ]
        await store.insert(price_events(prices, team, None, END, TokenEventColumns.of(batch)).columns)
    return time.perf_counter() - began


async def timed(store: TokenCostStore, query: CostQuery, runs: int) -> tuple[float, float, int]:
    samples = []
    report = None
    for _ in range(runs):
        began = time.perf_counter()
        report = await store.report("team-a", query)
        samples.append((time.perf_counter() - began) * 1000)
    assert report is not None
    return percentile(samples, 0.5), percentile(samples, 0.95), report.totals.events


async def main(events: int, runs: int) -> None:
    engine = ChdbClickHouse(Path(tempfile.mkdtemp(prefix="mno-bench-costs-")) / "chdb")
    await apply_migrations(engine)
    store = TokenCostStore(engine)
    seconds = await fill(store, "team-a", events) + await fill(store, "team-b", events // 2)
    print(f"filled {events + events // 2} events over 90 days in {seconds:.1f} s", flush=True)
    await engine.execute("OPTIMIZE TABLE token_costs_hourly FINAL")
    await engine.execute("OPTIMIZE TABLE token_costs_tags_hourly FINAL")
    cases = {
        "90 d, day buckets, by model": CostQuery(since=START, until=END, bucket="day", group_by=["model"]),
        "90 d, hour buckets, by project": CostQuery(
            since=START, until=END, bucket="hour", group_by=["project"]
        ),
        "90 d, by tag:feature": CostQuery(since=START, until=END, group_by=["tag:feature"]),
        "90 d, by user (200 groups)": CostQuery(since=START, until=END, group_by=["user"], limit=1000),
        "90 d totals from raw (FINAL)": CostQuery(
            since=START + timedelta(milliseconds=1), until=END, group_by=["model"]
        ),
    }
    for name, query in cases.items():
        p50, p95, counted = await timed(store, query, runs)
        print(f"{name:<34} p50={p50:7.1f} ms  p95={p95:7.1f} ms  ({counted} events)", flush=True)
    await engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.runs))
