"""Benchmark: a mixed workload through the edge for minutes, open-loop paced; latency per route and RSS.

Starts nats-server, PostgreSQL and the five agents (separate processes, as in production) with a
webhook secret, then, from this process, sends requests on a fixed schedule (arrival i at
start + i/rate) over real routes in fixed proportions (per 20 arrivals):

    4  POST /api/v1/token-events       a batch of 100 new events (own ids)
    2  GET  /api/v1/costs               the last day
    2  GET  /api/v1/costs               the last 30 days
    2  POST /webhooks/github            a signed installation_repositories delivery (own GUID)
    2  GET  /api/v1/apikeys
    2  GET  /api/v1/usage
    2  GET  /api/v1/teams/{team_id}
    2  GET  /api/v1/budgets
    2  GET  /livez                      peer: the edge's floor, same rate as each read route

Latency is measured from each request's *scheduled* time, so a stall of the edge (or of this
client) shows in the figures instead of silently lowering the rate (no coordinated omission).
A second peer, bare NATS request/reply to a separate echo process, runs at the same per-route
rate, so figures can be read on a busy machine.

Rate: `--rate` requests/s, or by default `--fraction` (0.5) of what benchmarks/mesh.py sustains,
measured first in this run: its route (POST /api/v1/mesh/monitoring/ping) at 16 closed-loop
clients for `--calibrate` requests. The mixed routes are heavier than the ping, so the full
sustained figure is an overload, not a working point.

RSS (VmRSS of /proc/<pid>/status) of every process of the mesh (each agent, nats-server, the
postgres postmaster and its backends) is sampled at the start, every minute and at the end.

Targets (issue 13): p95 < 500 ms on every route (the mission's); ours p95 < 50 ms.

    .venv/bin/python benchmarks/load.py [--duration 600] [--rate R | --fraction 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import local_mesh, percentile, run_clients
from mesh import BARE_RESPONDER
from prometheus_client.parser import text_string_to_metric_families
from webhooks import SECRET, payload

from services.webhooks.signature import sign

MIX: list[tuple[str, int]] = [
    ("POST token-events x100", 4),
    ("GET costs 1 day", 2),
    ("GET costs 30 days", 2),
    ("POST webhooks/github", 2),
    ("GET apikeys", 2),
    ("GET usage", 2),
    ("GET teams/{id}", 2),
    ("GET budgets", 2),
    ("GET livez (peer)", 2),
]
BARE = "bare NATS req/reply (peer)"
PEERS = {"GET livez (peer)", BARE}
EXPECTED = {"POST webhooks/github": 202}
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")]


# (metric, labels) -> ([(upper bound, cumulative count)], sum of observations) of one scrape
Histograms = dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[tuple[float, float]], float]]
# What the MonitoringAgent's time went to, read from its own metrics: the cost-report endpoint's
# handler time, and its parts in chdb (waiting for a read thread, then running), beside the loop lag.
MONITORING_HISTOGRAMS: dict[str, Callable[[dict[str, str]], bool]] = {
    "mno_rpc_handler_duration_seconds": lambda labels: "costs" in labels.get("endpoint", ""),
    "mno_clickhouse_call_seconds": lambda labels: True,
    "mno_event_loop_lag_seconds": lambda labels: True,
}

# pid -> (label, VmRSS kB, CPU seconds used since it started)
Sample = dict[int, tuple[str, int, float]]
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Load:
    """The state of one run: what was sent, how it went, and the RSS samples."""

    stats: dict[str, RouteStats] = field(default_factory=dict)
    minute_latencies: list[list[float]] = field(default_factory=lambda: [[]])
    rss: list[tuple[str, Sample]] = field(default_factory=list)
    client_cpu: float = 0.0
    # The MonitoringAgent's histograms at the start and at the end (cumulative bucket counts).
    monitoring_metrics: list[Histograms] = field(default_factory=list)

    def record(self, route: str, latency: float, error: str | None) -> None:
        stats = self.stats.setdefault(route, RouteStats())
        stats.latencies.append(latency)
        if error is not None:
            stats.errors[error] += 1
        self.minute_latencies[-1].append(latency)


def event_template() -> list[str]:
    """100 serialised events without their id: the id is prepended per batch, so building a body
    costs string joins, not json.dumps of 100 dicts (the client must keep its schedule)."""
    parts = []
    for i in range(100):
        provider, model = MODELS[i % len(MODELS)]
        event = {
            "provider": provider,
            "model": model,
            "input_tokens": 500 + i * 7,
            "output_tokens": 50 + i * 3,
            "latency_ms": 100.0 + i,
            "user": f"user-{i % 20}",
            "project": f"project-{i % 5}",
        }
        parts.append(json.dumps(event)[1:])
    return parts


# --- processes and their RSS -------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # After "(comm)", which may hold spaces: state, ppid.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _label(pid: int) -> str:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    args = [part.decode(errors="replace") for part in raw if part]
    agent = next((arg for arg in args if arg.startswith("agents.")), None)
    if agent is not None:
        return agent.removeprefix("agents.")
    name = Path(args[0]).name if args else "?"
    if name == "postgres" and len(args) > 1:
        return "postgres postmaster"
    if args and args[0].startswith("postgres: "):
        # A backend's title ends in its state (idle, SELECT, ...): keep who it serves only.
        words = args[0].split()
        return " ".join(words[:4]) if len(words) > 4 else args[0]
    return name


def mesh_rss(exclude: set[int]) -> Sample:
    """Every descendant of this process but `exclude`."""
    tree = _children()
    found: Sample = {}
    stack = list(tree.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        stack.extend(tree.get(pid, []))
        if pid in exclude:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            label = _label(pid)
        except OSError:
            continue  # gone between listing and reading
        rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        # utime and stime, fields 14 and 15 of stat (11 and 12 after the command name).
        found[pid] = (label, rss, (int(stat[11]) + int(stat[12])) / TICKS)
    return found


# --- the workload ----------------------------------------------------------------------------


async def calibrate(http: aiohttp.ClientSession, edge: str, total: int) -> float:
    """Requests/s of benchmarks/mesh.py's route at 16 closed-loop clients, in this run."""
    url = f"{edge}/api/v1/mesh/monitoring/ping"

    async def ping() -> None:
        async with http.post(url, json={"echo": "bench"}) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"ping answered {response.status}")

    for _ in range(200):
        await ping()
    elapsed, latencies = await run_clients(ping, 16, total)
    return len(latencies) / elapsed


async def drive(edge: str, nats_url: str, token: str, rate: float | None, args: argparse.Namespace) -> None:
    bare = subprocess.Popen([sys.executable, "-c", BARE_RESPONDER, nats_url], stdout=subprocess.PIPE)
    assert bare.stdout is not None
    bare.stdout.readline()
    nc = await nats.connect(nats_url)
    load = Load()
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as http:
            load_avg = os.getloadavg()
            print(f"load average before the run {load_avg[0]:.1f}/{load_avg[1]:.1f}/{load_avg[2]:.1f}")
            if rate is None:
                sustained = await calibrate(http, edge, args.calibrate)
                rate = sustained * args.fraction
                origin = (
                    f"{args.fraction} x the {sustained:.0f}/s benchmarks/mesh.py's route sustained at "
                    "16 clients, measured in this run"
                )
            else:
                origin = "given by --rate"
            async with http.get(f"{edge}/api/v1/teams") as response:
                team_id = (await response.json())["teams"][0]["id"]
            await run(http, nc, edge, team_id, rate, args.duration, load, {bare.pid}, args.routes)
    finally:
        await nc.close()
        bare.terminate()
        bare.wait()
    print_report(load, rate, origin, args.duration)


async def run(
    http: aiohttp.ClientSession,
    nc: NatsClient,
    edge: str,
    team_id: str,
    rate: float,
    duration: float,
    load: Load,
    exclude: set[int],
    args_routes: list[str] | None = None,
) -> None:
    run_id = uuid.uuid4().hex[:8]
    template = event_template()
    sequence = iter(range(10**12))

    def ingest_body() -> bytes:
        batch = next(sequence)
        events = ",".join(f'{{"id":"load-{run_id}-{batch}-{i}",{part}' for i, part in enumerate(template))
        return f'{{"events":[{events}]}}'.encode()

    def costs_params(days: int) -> dict[str, str]:
        now = datetime.now(UTC)
        return {
            "since": (now - timedelta(days=days)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        }

    def webhook() -> tuple[bytes, dict[str, str]]:
        body = payload(next(sequence))
        return body, {
            "X-GitHub-Event": "installation_repositories",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": sign(body, SECRET),
            "Content-Type": "application/json",
        }

    async def http_call(route: str, scheduled: float) -> None:
        error: str | None = None
        try:
            if route == "POST token-events x100":
                request = http.post(
                    f"{edge}/api/v1/token-events",
                    data=ingest_body(),
                    headers={"Content-Type": "application/json"},
                )
            elif route == "GET costs 1 day":
                request = http.get(f"{edge}/api/v1/costs", params=costs_params(1))
            elif route == "GET costs 30 days":
                request = http.get(f"{edge}/api/v1/costs", params=costs_params(30))
            elif route == "POST webhooks/github":
                body, webhook_headers = webhook()
                request = http.post(f"{edge}/webhooks/github", data=body, headers=webhook_headers)
            else:
                path = {
                    "GET apikeys": "/api/v1/apikeys",
                    "GET usage": "/api/v1/usage",
                    "GET teams/{id}": f"/api/v1/teams/{team_id}",
                    "GET budgets": "/api/v1/budgets",
                    "GET livez (peer)": "/livez",
                }[route]
                request = http.get(f"{edge}{path}")
            async with request as response:
                await response.read()
                if response.status != EXPECTED.get(route, 200):
                    error = str(response.status)
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as exc:
            error = type(exc).__name__
        load.record(route, time.perf_counter() - scheduled, error)

    async def bare_call(scheduled: float) -> None:
        error: str | None = None
        try:
            await nc.request("bench.echo", b'{"echo":"bench"}', timeout=5)
        except (TimeoutError, NatsError) as exc:
            error = type(exc).__name__
        load.record(BARE, time.perf_counter() - scheduled, error)

    mix = [(route, weight) for route, weight in MIX if route in PEERS or _kept(route, args_routes)]
    cycle = [route for route, weight in mix for _ in range(weight)]
    # Interleave so each route's arrivals are spread over the cycle, not in a burst of its own.
    cycle = [cycle[(i * 7) % len(cycle)] for i in range(len(cycle))]
    assert sorted(cycle) == sorted(route for route, weight in mix for _ in range(weight))
    bare_every = sum(weight for _, weight in mix) // 2  # the same rate as a weight-2 route

    load.rss.append(("start", mesh_rss(exclude)))
    pending: set[asyncio.Task[None]] = set()

    def launch(call: Awaitable[None]) -> None:
        task = asyncio.ensure_future(call)
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def sample_rss() -> None:
        for minute in range(1, math.ceil(duration / 60)):
            await asyncio.sleep(started + 60 * minute - time.perf_counter())
            load.rss.append((f"{minute} min", mesh_rss(exclude)))
            load.minute_latencies.append([])

    metrics_url = f"http://127.0.0.1:{os.environ['MNO_MONITORING_METRICS_PORT']}/metrics"
    load.monitoring_metrics.append(await scrape_histograms(http, metrics_url))
    cpu_before = time.process_time()
    started = time.perf_counter()
    sampler = asyncio.ensure_future(sample_rss())
    index = 0
    while True:
        scheduled = started + index / rate
        if scheduled - started >= duration:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        launch(http_call(cycle[index % len(cycle)], scheduled))
        if index % bare_every == 0:
            launch(bare_call(scheduled))
        index += 1
    sampler.cancel()
    late = time.perf_counter() - (started + duration)
    if pending:
        await asyncio.wait(pending, timeout=60)
    load.rss.append(("end", mesh_rss(exclude)))
    load.client_cpu = time.process_time() - cpu_before
    load.monitoring_metrics.append(await scrape_histograms(http, metrics_url))
    if late > 0.5:
        print(f"note: this client fell {late:.1f} s behind its schedule (counted in the latencies)")


async def scrape_histograms(http: aiohttp.ClientSession, url: str) -> Histograms:
    async with http.get(url) as response:
        text = await response.text()
    buckets: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]] = {}
    sums: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        wanted = MONITORING_HISTOGRAMS.get(family.name)
        if wanted is None:
            continue
        for sample in family.samples:
            if not wanted(sample.labels):
                continue
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets.setdefault((family.name, labels), []).append((bound, sample.value))
            elif sample.name.endswith("_sum"):
                sums[(family.name, labels)] = sample.value
    return {key: (sorted(counts), sums.get(key, 0.0)) for key, counts in buckets.items()}


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """As Prometheus' histogram_quantile: linear within the bucket the rank falls in."""
    total = buckets[-1][1]
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = upper, count
    return lower


def print_monitoring_time(samples: list[Histograms], duration: float) -> None:
    """Each histogram's change over the run: count, mean, and p50/p95 estimated from its buckets."""
    if len(samples) < 2:
        return
    before, after = samples
    print("\nMonitoringAgent, from its own metrics over the run (p50/p95 estimated from buckets)")
    print(f"{'histogram':<72}{'count':>8}{'/s':>7}{'mean ms':>9}{'p50 ms':>9}{'p95 ms':>9}")
    for key in sorted(after):
        old_counts, old_sum = before.get(key, ([], 0.0))
        old = dict(old_counts)
        counts, total_seconds = after[key]
        buckets = [(bound, count - old.get(bound, 0.0)) for bound, count in counts]
        total = buckets[-1][1] if buckets else 0
        if total <= 0:
            continue
        name, labels = key
        label = ",".join(f"{k}={v}" for k, v in labels if k != "agent")
        mean = (total_seconds - old_sum) / total * 1000
        print(
            f"{f'{name}{{{label}}}':<72.72}{total:>8.0f}{total / duration:>7.0f}{mean:>9.1f}"
            f"{histogram_quantile(buckets, 0.5) * 1000:>9.1f}{histogram_quantile(buckets, 0.95) * 1000:>9.1f}"
        )


def _kept(route: str, wanted: list[str] | None) -> bool:
    return wanted is None or any(part.lower() in route.lower() for part in wanted)


def print_report(load: Load, rate: float, origin: str, duration: float) -> None:
    load_avg = os.getloadavg()
    print(
        f"\nrate {rate:.0f} requests/s ({origin}); {duration:.0f} s; {os.cpu_count()} cores, "
        f"load average now {load_avg[0]:.1f}/{load_avg[1]:.1f}/{load_avg[2]:.1f}\n"
    )
    print(
        f"{'route':<28}{'count':>7}{'/s':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        "  errors by status"
    )
    total = errors = 0
    for route in [route for route, _ in MIX] + [BARE]:
        stats = load.stats.get(route)
        if stats is None:
            continue
        ms = [latency * 1000 for latency in stats.latencies]
        failed = sum(stats.errors.values())
        if route not in PEERS:
            total, errors = total + len(ms), errors + failed
        print(
            f"{route:<28}{len(ms):>7}{len(ms) / duration:>7.0f}{percentile(ms, 0.5):>9.1f}"
            f"{percentile(ms, 0.95):>9.1f}{percentile(ms, 0.99):>9.1f}{max(ms):>9.1f}  "
            f"{dict(stats.errors) or '-'}"
        )
    batches = load.stats.get("POST token-events x100")
    if batches is not None:
        stored = len(batches.latencies) - sum(batches.errors.values())
        print(f"\nevents accepted: {stored * 100 / duration:,.0f}/s (batches of 100)")
    print(f"\nerror rate (peers excluded): {errors}/{total} = {errors / max(total, 1) * 100:.3f} %")
    minutes = [f"{percentile(m, 0.95) * 1000:.0f}" for m in load.minute_latencies if m]
    print(f"p95 of all requests per minute (ms): {' '.join(minutes)}")
    routes = [route for route, _ in MIX if route not in PEERS and route in load.stats]
    worst = max(routes, key=lambda r: percentile(load.stats[r].latencies, 0.95))
    p95 = percentile(load.stats[worst].latencies, 0.95) * 1000
    for target in (500, 50):
        print(
            f"target p95 < {target} ms on every route: {'met' if p95 < target else 'NOT met'} "
            f"(worst {worst} {p95:.1f} ms)"
        )
    print(f"this load generator (its own process) used {load.client_cpu:.1f} CPU s")
    print_monitoring_time(load.monitoring_metrics, duration)
    print_rss(load.rss)


def print_rss(samples: list[tuple[str, Sample]]) -> None:
    print(
        "\nRSS (VmRSS, MB) of the mesh's processes (postgres: with the shared buffers it touched); "
        "CPU seconds each used during the load"
    )
    labels = {pid: label for _, sample in reversed(samples) for pid, (label, *_) in sample.items()}
    pids = sorted(labels, key=lambda pid: (labels[pid], pid))
    print(
        f"{'process':<40}" + "".join(f"{name:>9}" for name, _ in samples) + f"{'end-start':>11}{'cpu s':>8}"
    )
    totals = [0.0] * len(samples)
    cpu_total = 0.0
    for pid in pids:
        label = labels[pid]
        cells = []
        for column, (_, sample) in enumerate(samples):
            if pid in sample:
                kb = sample[pid][1]
                cells.append(f"{kb / 1024:>9.1f}")
                totals[column] += kb / 1024
            else:
                cells.append(f"{'-':>9}")
        first, last = samples[0][1].get(pid), samples[-1][1].get(pid)
        growth = f"{(last[1] - first[1]) / 1024:>+11.1f}" if first and last else f"{'n/a':>11}"
        cpu = (last[2] if last else 0.0) - (first[2] if first else 0.0)
        cpu_total += cpu
        print(f"{f'{label} [{pid}]':<40.40}" + "".join(cells) + growth + f"{cpu:>8.1f}")
    print(
        f"{'all':<40}"
        + "".join(f"{t:>9.1f}" for t in totals)
        + f"{totals[-1] - totals[0]:>+11.1f}{cpu_total:>8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--rate", type=float, help="requests/s over the whole mix (default: calibrated)")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the calibrated rate (default 0.5)")
    parser.add_argument("--calibrate", type=int, default=6000, help="requests of the calibration run")
    parser.add_argument("--timeout", type=float, default=30, help="seconds before a request counts as failed")
    parser.add_argument(
        "--routes",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help="keep only the routes whose names contain one of these comma-separated words (and the "
        "peers), at their weights: to see what one kind of request costs (e.g. --routes costs)",
    )
    args = parser.parse_args()
    with local_mesh(extra_env={"GITHUB_WEBHOOK_SECRET": SECRET}) as mesh:
        print(f"mesh ready ({os.cpu_count()} cores); logs in {mesh.workdir}", flush=True)
        asyncio.run(drive(mesh.edge_url, mesh.nats_url, mesh.token, args.rate, args))


if __name__ == "__main__":
    main()
