"""Benchmark: a request routed HTTP → SuperAgent → NATS → agent → back, beside bare NATS request/reply.

Starts its own nats-server, PostgreSQL and the five agents (separate processes, as in production),
then measures at 1, 16 and 64 concurrent clients for a fixed number of requests each. The figure
is the ratio of the mesh path to a bare NATS request/reply loop measured in the same run.

    .venv/bin/python benchmarks/mesh.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mno.stack import EmbeddedPostgres, NatsServer
from mno.supervisor import agent_environment, is_ready, start_agent, stop_agents
from shared.config import load_settings
from shared.messages.agents import ALL_AGENTS
from tests.fixtures.stack import free_port

TOKEN = "mno_bench_token"
BARE_RESPONDER = """
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    async def echo(msg):
        await msg.respond(msg.data)
    await nc.subscribe("bench.echo", queue="q", cb=echo)
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def run_clients(
    call: Callable[[], Awaitable[None]], clients: int, total: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = total

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, latencies


def report(name: str, clients: int, elapsed: float, latencies: list[float]) -> dict[str, float]:
    row = {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
    }
    print(
        f"{name:<22} clients={clients:<3} requests={len(latencies):<6} {row['rps']:>8.0f} req/s  "
        f"p50={row['p50']:.2f} ms  p95={row['p95']:.2f} ms  p99={row['p99']:.2f} ms",
        flush=True,
    )
    return row


async def measure(edge: str, nats_url: str, total: int) -> None:
    bare = subprocess.Popen([sys.executable, "-c", BARE_RESPONDER, nats_url], stdout=subprocess.PIPE)
    assert bare.stdout is not None
    bare.stdout.readline()
    nc = await nats.connect(nats_url)
    results: dict[tuple[str, int], dict[str, float]] = {}
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            url = f"{edge}/api/v1/mesh/monitoring/ping"

            async def mesh_call() -> None:
                async with http.post(url, json={"echo": "bench"}) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")

            async def bare_call() -> None:
                await nc.request("bench.echo", b'{"echo":"bench"}', timeout=5)

            for _ in range(200):  # warm-up: connections, JIT-free but caches and pools
                await mesh_call()
                await bare_call()
            for clients in (1, 16, 64):
                elapsed, latencies = await run_clients(bare_call, clients, total)
                results[("bare", clients)] = report("bare NATS req/reply", clients, elapsed, latencies)
                elapsed, latencies = await run_clients(mesh_call, clients, total)
                results[("mesh", clients)] = report("HTTP→edge→NATS→agent", clients, elapsed, latencies)
    finally:
        await nc.close()
        bare.terminate()
        bare.wait()
    print("\nratio mesh/bare (p95 latency; throughput):")
    for clients in (1, 16, 64):
        mesh_row, bare_row = results[("mesh", clients)], results[("bare", clients)]
        print(
            f"  clients={clients:<3} p95 x{mesh_row['p95'] / bare_row['p95']:.1f}   "
            f"throughput {mesh_row['rps'] / bare_row['rps'] * 100:.0f}% of bare"
        )
    target = results[("mesh", 16)]["p95"]
    print(f"\ntarget p95 < 20 ms at 16 clients: {target:.2f} ms -> {'met' if target < 20 else 'NOT met'}")
    mesh_p50s = [row["p50"] for (path, _), row in results.items() if path == "mesh"]
    print(f"median of mesh p50s: {statistics.median(mesh_p50s):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per level of concurrency")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mno-bench-"))
    nats_server, postgres = NatsServer(), EmbeddedPostgres()
    nats_server.start(workdir, port=free_port(), monitor_port=free_port())
    dsn = postgres.start(workdir, port=free_port())
    os.environ.update({"MNO_DATA_DIR": str(workdir), "MNO_HTTP_PORT": str(free_port())})
    for agent in ALL_AGENTS:
        os.environ[f"MNO_{agent.value.upper()}_METRICS_PORT"] = str(free_port())
    settings = load_settings()
    env = agent_environment(settings, nats_server.url, dsn, TOKEN)
    agents = [start_agent(agent, settings, env, workdir) for agent in ALL_AGENTS]
    try:
        deadline = time.monotonic() + 90
        while not all(is_ready(a.metrics_url) for a in agents):
            if time.monotonic() > deadline:
                raise SystemExit(f"agents not ready; logs in {workdir}")
            time.sleep(0.2)
        print(f"mesh ready ({os.cpu_count()} cores); {args.requests} requests per level\n", flush=True)
        asyncio.run(measure(f"http://127.0.0.1:{settings.http.port}", nats_server.url, args.requests))
    finally:
        stop_agents(agents)
        postgres.stop()
        nats_server.stop()


if __name__ == "__main__":
    main()
