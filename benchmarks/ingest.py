"""Benchmark: token events from HTTP ingest to priced rows queryable in ClickHouse.

Starts nats-server, PostgreSQL, the SuperAgent and the MonitoringAgent (separate processes), then:

1. raw baselines in this run: JetStream publish of 250-event messages (what the edge publishes),
   and chdb inserts of priced rows into `token_events` with its rollup views;
2. sustained end to end: `--clients` senders post 1,000-event batches; the clock stops when
   `/api/v1/costs` counts every event (priced and stored in ClickHouse);
3. latency at a paced `--rate` events/s (batches of 100), first for a team without budgets, then
   with a hard-limit team budget (every event priced and counted at admission, before the answer):
   the HTTP round trip of each batch, and from the edge receiving the request to the
   MonitoringAgent knowing its cost (`mno_token_event_priced_seconds`) and to having stored it in
   ClickHouse (`mno_token_event_pipeline_seconds`); percentiles are interpolated within buckets.

Targets (issue 5): >= 20,000 events/s end to end; p99 < 100 ms at 2,000 events/s from ingest to
"cost known and budget checked".

    .venv/bin/python benchmarks/ingest.py [--events 200000] [--clients 4] [--rate 2000] [--seconds 20]

Before and after a change, in one run on one (shared, noisy) machine: `--against DIR` runs the
budgeted paced phase `--rounds` times with the agents of DIR (e.g. `git archive HEAD | tar -x -C DIR`,
the code before the change), alternating with this tree's, and prints both side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import nats

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import local_mesh, percentile

from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from shared.db.clickhouse import ChdbClickHouse
from shared.db.clickhouse.migrations import apply_migrations
from shared.messages.agents import AgentName
from shared.messages.telemetry import TokenEvent, TokenEventColumns

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-2.5-pro"),
]


def make_event(index: int, run: str) -> dict[str, Any]:
    provider, model = MODELS[index % len(MODELS)]
    return {
        "id": f"{run}-{index}",
        "provider": provider,
        "model": model,
        "input_tokens": 500 + index % 1500,
        "output_tokens": 50 + index % 400,
        "cache_read_tokens": index % 3 * 100,
        "latency_ms": 100.0 + index % 900,
        "user": f"user-{index % 50}",
        "project": f"project-{index % 5}",
        "tags": {"feature": f"f{index % 7}"},
    }


async def raw_jetstream(nats_url: str, messages: int) -> float:
    """Events/s of bare JetStream publishes of 250-event messages, acks awaited 16 at a time."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH_RAW", subjects=["bench.raw"])
    body = json.dumps({"events": [make_event(i, "raw") for i in range(250)]}).encode()
    started = time.perf_counter()
    for start in range(0, messages, 16):
        await asyncio.gather(*(js.publish("bench.raw", body) for _ in range(min(16, messages - start))))
    elapsed = time.perf_counter() - started
    await js.delete_stream("BENCH_RAW")
    await nc.close()
    return messages * 250 / elapsed


async def raw_clickhouse(rows_total: int) -> float:
    """Rows/s of chdb inserts (5,000 rows each) into token_events, rollup views included."""
    workdir = Path(tempfile.mkdtemp(prefix="mno-bench-ch-"))
    engine = ChdbClickHouse(workdir / "chdb")
    await apply_migrations(engine)
    store = TokenCostStore(engine)
    now = datetime.now(UTC)
    events = [
        TokenEvent.model_validate({**make_event(i, "ch"), "timestamp": now - timedelta(seconds=i % 3600)})
        for i in range(5000)
    ]
    batch = price_events(GenaiPricesSource(), "bench-team", None, now, TokenEventColumns.of(events))
    started = time.perf_counter()
    for _ in range(rows_total // 5000):
        await store.insert(batch.columns)
    elapsed = time.perf_counter() - started
    await engine.close()
    return rows_total / elapsed


async def stored_events(http: aiohttp.ClientSession, edge: str, token: str) -> int:
    now = datetime.now(UTC)
    params = {"since": (now - timedelta(days=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    async with http.get(
        f"{edge}/api/v1/costs", params=params, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        body = await r.json()
        assert r.status == 200, body
        return int(body["totals"]["events"])


async def post_batch(http: aiohttp.ClientSession, edge: str, token: str, body: bytes) -> None:
    async with http.post(
        f"{edge}/api/v1/token-events",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    ) as response:
        answer = await response.read()
        if response.status != 200:
            raise SystemExit(f"ingest answered {response.status}: {answer[:300]!r}")


async def sustained(edge: str, token: str, total: int, clients: int, already: int) -> None:
    run = uuid.uuid4().hex[:8]
    batches = [
        json.dumps({"events": [make_event(i, run) for i in range(start, min(start + 1000, total))]}).encode()
        for start in range(0, total, 1000)
    ]
    async with aiohttp.ClientSession() as http:
        queue = list(batches)
        latencies: list[float] = []

        async def client() -> None:
            while queue:
                body = queue.pop()
                began = time.perf_counter()
                await post_batch(http, edge, token, body)
                latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        accepted_after = time.perf_counter() - started
        while await stored_events(http, edge, token) < already + total:
            await asyncio.sleep(0.05)
        stored_after = time.perf_counter() - started
    print(
        f"sustained: {total} events in {len(batches)} batches of 1000 by {clients} clients\n"
        f"  accepted (durable in JetStream): {total / accepted_after:>9.0f} events/s  "
        f"batch p50={percentile(latencies, 0.5) * 1000:.1f} ms "
        f"p99={percentile(latencies, 0.99) * 1000:.1f} ms\n"
        f"  end to end (queryable in ClickHouse): {total / stored_after:>9.0f} events/s "
        f"({stored_after:.2f} s, last row {stored_after - accepted_after:.2f} s after the last accept)",
        flush=True,
    )


async def histogram(metrics_url: str, name: str, label: str = "") -> dict[float, float]:
    """Cumulative bucket counts of a histogram, summed over its series whose labels hold `label`
    (several labels: comma-separated, in any order)."""
    async with aiohttp.ClientSession() as http, http.get(metrics_url) as response:
        text = await response.text()
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket") and all(part in line for part in label.split(",")):
            bound = line.split('le="')[1].split('"')[0]
            key = float("inf") if bound == "+Inf" else float(bound)
            buckets[key] = buckets.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def histogram_percentile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    bounds = sorted(after)
    if not bounds:  # a metric the agents of this tree do not export (an older tree in --against)
        return 0.0
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    target = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= target:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((target - below) / inside if inside else 0.0)
        lower, below = bound, cumulative
    return lower


async def create_budget(edge: str, token: str) -> None:
    """A team budget with a hard limit far above the run's spend: every batch is then priced and
    counted against it at admission, before the edge answers (the full "budget checked" path)."""
    body = {"name": "benchmark", "amount_usd": "1000000000", "period": "month", "hard_limit": True}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{edge}/api/v1/budgets", json=body, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        assert r.status in (200, 201), await r.text()


async def paced(
    edge: str, token: str, metrics_url: str, rate: int, seconds: int, label: str, *, quiet: bool = False
) -> dict[str, tuple[float, float, float]]:
    run = uuid.uuid4().hex[:8]
    per_batch = 100
    interval = per_batch / rate
    names = {
        "priced": ("mno_token_event_priced_seconds", ""),
        "stored": ("mno_token_event_pipeline_seconds", ""),
        "writes": ("mno_token_event_write_seconds", ""),
        # Where a slow admission waits: the agent's handler (budget rows locked) or its busy loop.
        "admit": ("mno_rpc_handler_duration_seconds", 'endpoint="budget_admission"'),
        "lag": ("mno_event_loop_lag_seconds", ""),
        # A full collection stops the whole process: every admission in flight waits it out.
        "gc2": ("mno_gc_pause_seconds", 'generation="2"'),
    }
    before = {key: await histogram(metrics_url, *spec) for key, spec in names.items()}
    latencies: list[float] = []
    async with aiohttp.ClientSession() as http:
        tasks = []
        started = time.perf_counter()
        index = 0
        for batch in range(int(seconds * rate / per_batch)):
            body = json.dumps(
                {"events": [make_event(i, run) for i in range(index, index + per_batch)]}
            ).encode()
            index += per_batch

            async def send(body: bytes = body) -> None:
                began = time.perf_counter()
                await post_batch(http, edge, token, body)
                latencies.append(time.perf_counter() - began)

            tasks.append(asyncio.create_task(send()))
            delay = started + (batch + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*tasks)
        achieved = index / (time.perf_counter() - started)
    await asyncio.sleep(1.0)  # the last batches' rows
    after = {key: await histogram(metrics_url, *spec) for key, spec in names.items()}

    def ms(key: str, q: float) -> float:
        return histogram_percentile(before[key], after[key], q) * 1000

    def spread(key: str) -> str:
        return f"p50={ms(key, 0.5):.1f} ms p95={ms(key, 0.95):.1f} ms p99={ms(key, 0.99):.1f} ms"

    def count(key: str) -> float:
        return after[key].get(float("inf"), 0.0) - before[key].get(float("inf"), 0.0)

    http_ms = [percentile(latencies, q) * 1000 for q in (0.5, 0.95, 0.99)]
    figures = {
        "HTTP answer": (http_ms[0], http_ms[1], http_ms[2]),
        "edge received -> cost known": (ms("priced", 0.5), ms("priced", 0.95), ms("priced", 0.99)),
    }
    if quiet:
        return figures
    writes = count("writes")
    admissions = f"{count('admit'):.0f}, {spread('admit')}" if count("admit") else "none asked"
    print(
        f"paced at {rate} events/s, {label} ({achieved:.0f} achieved, batches of {per_batch}, {seconds} s):\n"
        f"  HTTP answer (durable; budgets checked): p50={percentile(latencies, 0.5) * 1000:.1f} ms "
        f"p99={percentile(latencies, 0.99) * 1000:.1f} ms (client round trip)\n"
        f"  edge received -> cost known:             {spread('priced')}\n"
        f"  edge received -> stored, queryable:      {spread('stored')}\n"
        f"  ClickHouse writes (id lookup + insert):  {writes:.0f}, p50={ms('writes', 0.5):.1f} ms "
        f"p99={ms('writes', 0.99):.1f} ms\n"
        f"  MonitoringAgent budget admissions:       {admissions}\n"
        f"  MonitoringAgent event-loop lag:          {spread('lag')}\n"
        f"  MonitoringAgent full GC pauses:          {count('gc2'):.0f}, {spread('gc2')}",
        flush=True,
    )
    return figures


def side_by_side(
    without: dict[str, tuple[float, float, float]], with_: dict[str, tuple[float, float, float]]
) -> None:
    """The two paced phases of this run next to each other: the peer of each figure is the line above."""
    print("paced, side by side (ms)            p50      p95      p99")
    for stage in without:
        for label, figures in (("no budgets", without[stage]), ("hard-limit budget", with_[stage])):
            p50, p95, p99 = figures
            print(f"  {stage + ', ' + label:<44} {p50:>7.1f}  {p95:>7.1f}  {p99:>7.1f}")


@contextlib.contextmanager
def agents_from(tree: Path) -> Any:
    """Agents started meanwhile run the code of `tree` (`python -m agents.<name>` imports from its
    working directory first)."""
    here = Path.cwd()
    os.chdir(tree)
    try:
        yield
    finally:
        os.chdir(here)


def alternate(against: Path, rounds: int, rate: int, seconds: int) -> None:
    """The budgeted paced phase, `rounds` times with the agents of `against` and of this tree in turn."""
    this_tree = Path(__file__).resolve().parents[1]
    figures: dict[str, list[dict[str, tuple[float, float, float]]]] = {"before": [], "after": []}
    for round_number in range(rounds):
        for name, tree in (("before", against), ("after", this_tree)):
            with agents_from(tree), local_mesh([AgentName.SUPER_AGENT, AgentName.MONITORING]) as mesh:
                metrics_url = f"http://127.0.0.1:{mesh.settings.agents.monitoring.metrics_port}/metrics"

                label = f"round {round_number + 1}, {name} ({tree}), hard-limit budget"

                async def run(mesh: Any = mesh, metrics_url: str = metrics_url, label: str = label) -> Any:
                    await create_budget(mesh.edge_url, mesh.token)
                    await asyncio.sleep(3)  # every edge's set of teams with budgets has the team
                    # A short warm-up (imports, first inserts, price caches), not counted.
                    await paced(mesh.edge_url, mesh.token, metrics_url, rate, 3, "warm-up", quiet=True)
                    return await paced(mesh.edge_url, mesh.token, metrics_url, rate, seconds, label)

                figures[name].append(asyncio.run(run()))
    print("paced, hard-limit budget, before | after (ms)       p50      p95      p99")
    for number, (before, after) in enumerate(zip(figures["before"], figures["after"], strict=True), 1):
        for stage in before:
            for name, row in (("before", before[stage]), ("after", after[stage])):
                p50, p95, p99 = row
                print(f"  round {number}, {stage}, {name:<6} {'':<8} {p50:>7.1f}  {p95:>7.1f}  {p99:>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--only", choices=["sustained", "paced"], help="run one of the two mesh phases")
    parser.add_argument("--against", type=Path, help="a tree with the code before a change (see above)")
    parser.add_argument("--rounds", type=int, default=3, help="before/after pairs with --against")
    args = parser.parse_args()
    if args.against is not None:
        alternate(args.against.resolve(), args.rounds, args.rate, args.seconds)
        return
    print(f"raw ClickHouse (chdb) insert: {asyncio.run(raw_clickhouse(100_000)):>9.0f} rows/s", flush=True)
    with local_mesh([AgentName.SUPER_AGENT, AgentName.MONITORING]) as mesh:
        print(
            f"raw JetStream publish:        {asyncio.run(raw_jetstream(mesh.nats_url, 400)):>9.0f} events/s"
        )
        metrics_url = f"http://127.0.0.1:{mesh.settings.agents.monitoring.metrics_port}/metrics"

        async def run() -> None:
            async with aiohttp.ClientSession() as http:
                already = await stored_events(http, mesh.edge_url, mesh.token)
            if args.only != "paced":
                await sustained(mesh.edge_url, mesh.token, args.events, args.clients, already)
            if args.only != "sustained":
                without = await paced(
                    mesh.edge_url, mesh.token, metrics_url, args.rate, args.seconds, "no budgets"
                )
                await create_budget(mesh.edge_url, mesh.token)
                await asyncio.sleep(3)  # every edge's set of teams with budgets has the team
                label = "team with a hard-limit budget"
                with_ = await paced(mesh.edge_url, mesh.token, metrics_url, args.rate, args.seconds, label)
                side_by_side(without, with_)

        asyncio.run(run())


if __name__ == "__main__":
    main()
