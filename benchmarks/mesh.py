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
from pathlib import Path

import aiohttp
import nats

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import local_mesh, report, run_clients

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


OPERATOR_TOKEN = "mno-bench-operator-token"


async def measure(edge: str, nats_url: str, token: str, total: int) -> None:
    bare = subprocess.Popen([sys.executable, "-c", BARE_RESPONDER, nats_url], stdout=subprocess.PIPE)
    assert bare.stdout is not None
    bare.stdout.readline()
    nc = await nats.connect(nats_url)
    results: dict[tuple[str, int], dict[str, float]] = {}
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            url = f"{edge}/api/v1/mesh/monitoring/ping"

            async def mesh_call() -> None:
                async with http.post(url, json={"echo": "bench"}) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")

            async def operator_call() -> None:
                # The same route with the configured operator token: no database lookup to authenticate.
                headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
                async with http.post(url, json={"echo": "bench"}, headers=headers) as response:
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
                elapsed, latencies = await run_clients(operator_call, clients, total)
                results[("operator", clients)] = report("  same, no key lookup", clients, elapsed, latencies)
    finally:
        await nc.close()
        bare.terminate()
        bare.wait()
    print("\nratio mesh/bare (p95 latency; throughput); API-key check cost = mesh vs operator token:")
    for clients in (1, 16, 64):
        mesh_row, bare_row = results[("mesh", clients)], results[("bare", clients)]
        print(
            f"  clients={clients:<3} p95 x{mesh_row['p95'] / bare_row['p95']:.1f}   "
            f"throughput {mesh_row['rps'] / bare_row['rps'] * 100:.0f}% of bare   "
            f"API key vs no lookup: p50 +{mesh_row['p50'] - results[('operator', clients)]['p50']:.2f} ms"
        )
    target = results[("mesh", 16)]["p95"]
    print(f"\ntarget p95 < 20 ms at 16 clients: {target:.2f} ms -> {'met' if target < 20 else 'NOT met'}")
    mesh_p50s = [row["p50"] for (path, _), row in results.items() if path == "mesh"]
    print(f"median of mesh p50s: {statistics.median(mesh_p50s):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per level of concurrency")
    args = parser.parse_args()
    with local_mesh(extra_env={"MNO_BOOTSTRAP_TOKEN": OPERATOR_TOKEN}) as mesh:
        print(f"mesh ready ({os.cpu_count()} cores); {args.requests} requests per level\n", flush=True)
        asyncio.run(measure(mesh.edge_url, mesh.nats_url, mesh.token, args.requests))


if __name__ == "__main__":
    main()
