"""Benchmark: the 90-day dashboard query of GET /api/v1/costs against ClickHouse (chdb).

Fills `token_events` with `--events` calls spread over 90 days (8 models, 20 projects, 200 users,
5 tags values) for one team plus the same for a second team, then times, in one run:
  - the dashboard query: 90 days, day buckets, grouped by model (rollup path);
  - the same grouped by project with hour buckets (rollup path, 2,160 points per group);
  - by tag (the tag rollup);
  - 90 days with ends off the hour (as "now minus 90 days" asks): raw events for the two partial
    hours, the rollups between;
  - peer: the same 90 days grouped by model read from the raw events alone (FINAL), in SQL of this
    benchmark: what the rollups save.
Target (issue 5): the 90-day dashboard query under 100 ms.

`--edge` times `GET /api/v1/costs` through the mesh instead (the load benchmark's "last day" query,
on a small dataset), idle and while ingest runs at `--rate` events/s, beside its peers: `/livez` of
the same edge, the same report's SQL run on a chdb of this process holding the same events, and
the MonitoringAgent's own chdb read calls split into queued and running. `--against DIR` runs it
with the agents of DIR (the code before a change) and of this tree in turn.

    .venv/bin/python benchmarks/costs_query.py [--events 1000000] [--runs 20]
    .venv/bin/python benchmarks/costs_query.py --edge [--rate 2000] [--against DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from harness import local_mesh, percentile
from ingest import agents_from, histogram, histogram_percentile, make_event, post_batch

from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from shared.db.clickhouse import ChdbClickHouse
from shared.db.clickhouse.migrations import apply_migrations
from shared.messages.agents import AgentName
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
        "90 d, ends off the hour, by model": CostQuery(
            since=START + timedelta(minutes=17), until=END - timedelta(minutes=17), group_by=["model"]
        ),
    }
    for name, query in cases.items():
        p50, p95, counted = await timed(store, query, runs)
        print(f"{name:<34} p50={p50:7.1f} ms  p95={p95:7.1f} ms  ({counted} events)", flush=True)
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        rows = await engine.query(
            "SELECT model, count() AS events, sum(cost_usd) AS cost_usd FROM token_events FINAL"
            " WHERE team_id = {team:String} AND timestamp >= {since:DateTime64(3, 'UTC')}"
            " AND timestamp < {until:DateTime64(3, 'UTC')} GROUP BY model",
            {"team": "team-a", "since": START, "until": END},
        )
        samples.append((time.perf_counter() - began) * 1000)
    counted = sum(int(row["events"]) for row in rows)
    print(
        f"{'peer: 90 d by model, raw (FINAL)':<34} p50={percentile(samples, 0.5):7.1f} ms  "
        f"p95={percentile(samples, 0.95):7.1f} ms  ({counted} events)",
        flush=True,
    )
    await engine.close()


def last_day() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"since": (now - timedelta(days=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}


async def timed_get(http: aiohttp.ClientSession, url: str, token: str, **params: str) -> float:
    began = time.perf_counter()
    async with http.get(url, params=params, headers={"Authorization": f"Bearer {token}"}) as response:
        await response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - began) * 1000


async def raw_peer(events: int) -> tuple[float, float]:
    """The report's SQL (`TokenCostStore.report`: the same statements) on a chdb of this process
    holding `events` events of the last day: what the query itself costs, with nothing queued."""
    engine = ChdbClickHouse(Path(tempfile.mkdtemp(prefix="mno-bench-costs-")) / "chdb")
    await apply_migrations(engine)
    store = TokenCostStore(engine)
    now = datetime.now(UTC)
    batch = [
        TokenEvent.model_validate({**make_event(i, "raw"), "timestamp": now - timedelta(seconds=i % 3600)})
        for i in range(events)
    ]
    columns = price_events(GenaiPricesSource(), "team-a", None, now, TokenEventColumns.of(batch)).columns
    for first in range(0, events, 100):  # many small parts, as paced ingest makes
        await store.insert({name: values[first : first + 100] for name, values in columns.items()})
    query = CostQuery.model_validate(last_day())
    samples = []
    for _ in range(30):
        began = time.perf_counter()
        await store.report("team-a", query)
        samples.append((time.perf_counter() - began) * 1000)
    await engine.close()
    return percentile(samples, 0.5), percentile(samples, 0.95)


async def through_edge(edge: str, token: str, metrics_url: str, rate: int, seconds: int) -> dict[str, Any]:
    """Costs and /livez, interleaved, idle and then during paced ingest; the agent's chdb reads."""
    figures: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        for batch in range(20):  # 2,000 events to report on
            body = json.dumps({"events": [make_event(batch * 100 + i, "seed") for i in range(100)]})
            await post_batch(http, edge, token, body.encode())
        await asyncio.sleep(1)
        costs, livez = [], []
        for _ in range(30):
            costs.append(await timed_get(http, f"{edge}/api/v1/costs", token, **last_day()))
            livez.append(await timed_get(http, f"{edge}/livez", token))
        figures["idle"] = (costs, livez)
        before = {kind: await histogram(metrics_url, *HISTOGRAMS[kind]) for kind in HISTOGRAMS}
        stop = asyncio.Event()

        async def ingest() -> None:
            sent, began = 0, time.perf_counter()
            tasks = []
            while not stop.is_set():
                body = json.dumps({"events": [make_event(sent + i, "load") for i in range(100)]}).encode()
                tasks.append(asyncio.create_task(post_batch(http, edge, token, body)))
                sent += 100
                await asyncio.sleep(max(0.0, began + sent / rate - time.perf_counter()))
            await asyncio.gather(*tasks)

        load = asyncio.create_task(ingest())
        await asyncio.sleep(2)
        costs, livez = [], []
        ends = time.perf_counter() + seconds
        while time.perf_counter() < ends:
            costs.append(await timed_get(http, f"{edge}/api/v1/costs", token, **last_day()))
            livez.append(await timed_get(http, f"{edge}/livez", token))
            await asyncio.sleep(0.1)
        stop.set()
        await load
        figures["ingesting"] = (costs, livez)
        after = {kind: await histogram(metrics_url, *HISTOGRAMS[kind]) for kind in HISTOGRAMS}
        figures["calls"] = {
            kind: [histogram_percentile(before[kind], after[kind], q) * 1000 for q in (0.5, 0.95)]
            for kind in HISTOGRAMS
            if after[kind]
        }
    return figures


# What the MonitoringAgent measures while ingest runs: its whole costs_query handler (both trees),
# and its chdb calls, queued and running (the metric is new: the tree before the change lacks it).
HISTOGRAMS = {
    "costs_query handler": ("mno_rpc_handler_duration_seconds", 'endpoint="costs_query"'),
    "chdb reads, queued": ("mno_clickhouse_call_seconds", 'kind="read",phase="queued"'),
    "chdb reads, running": ("mno_clickhouse_call_seconds", 'kind="read",phase="running"'),
    "chdb writes, queued": ("mno_clickhouse_call_seconds", 'kind="write",phase="queued"'),
    "chdb writes, running": ("mno_clickhouse_call_seconds", 'kind="write",phase="running"'),
}


def edge_mode(rate: int, seconds: int, against: Path | None) -> None:
    p50, p95 = asyncio.run(raw_peer(2_000))
    print(f"raw chdb, the report's SQL, 2,000 events, nothing queued:  p50={p50:7.1f} ms  p95={p95:7.1f} ms")
    this_tree = Path(__file__).resolve().parents[1]
    trees = [("before", against), ("after", this_tree)] if against else [("this tree", this_tree)]
    for name, tree in trees:
        with agents_from(tree), local_mesh([AgentName.SUPER_AGENT, AgentName.MONITORING]) as mesh:
            metrics_url = f"http://127.0.0.1:{mesh.settings.agents.monitoring.metrics_port}/metrics"
            figures = asyncio.run(through_edge(mesh.edge_url, mesh.token, metrics_url, rate, seconds))
        for phase in ("idle", f"ingesting {rate}/s"):
            costs, livez = figures[phase.split()[0]]
            print(
                f"{name:<9} {phase:<16} GET /api/v1/costs (1 day) n={len(costs):<4} "
                f"p50={percentile(costs, 0.5):7.1f} ms p95={percentile(costs, 0.95):7.1f} ms | "
                f"peer /livez p50={percentile(livez, 0.5):6.1f} ms p95={percentile(livez, 0.95):6.1f} ms",
                flush=True,
            )
        for kind, (c50, c95) in figures["calls"].items():
            print(f"{name:<9} ingesting: MonitoringAgent {kind:<22} p50={c50:7.1f} ms p95={c95:7.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--edge", action="store_true", help="through the mesh (see above)")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--against", type=Path, help="with --edge: a tree with the code before a change")
    arguments = parser.parse_args()
    if arguments.edge:
        edge_mode(arguments.rate, arguments.seconds, arguments.against)
    else:
        asyncio.run(main(arguments.events, arguments.runs))
