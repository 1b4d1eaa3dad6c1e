"""Benchmark: prompt fetch through the edge (GET /api/v1/prompts/{name}?label=production: API key,
plan feature, then the edge's per-team cache or NATS → LearningAgent → PostgreSQL → back): uncached
(each request names a prompt not asked before: the cache misses), cached (the same prompt again) and
revalidated from the cache with If-None-Match (304, no body), beside the edge's own `/livez` (no
auth, no bus) in the same run. Then the SDK:
`MnoClient.get_prompt` answered from its TTL cache, beside the edge fetch rates above, and
`MnoClient.assign` (local experiment assignment of units already exposed: no request) beside the
bare hash function (`mno_wire.assignment.gb_hash`) and the bare `assign` it wraps, in one thread.

Starts its own nats-server, PostgreSQL, the SuperAgent and the LearningAgent (separate processes).

    .venv/bin/python benchmarks/prompts.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import local_mesh, report, run_clients

from mno_sdk import MnoClient
from mno_wire.assignment import Experiment, Variant, assign, gb_hash
from shared.messages.agents import AgentName

PROMPT = {
    "name": "support-answer",
    "type": "chat",
    "variables": {"question": {"type": "string"}, "tone": {"type": "enum", "values": ["formal", "casual"]}},
    "config": {"model": "gpt-4o-mini", "temperature": 0.2},
    "messages": [
        {"role": "system", "content": "You answer support questions in a {{ tone }} tone. " * 20},
        {"role": "user", "content": "{{ question }}"},
    ],
}


async def measure(edge: str, token: str, total: int) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.post(f"{edge}/api/v1/prompts", json=PROMPT) as response:
            assert response.status == 200, await response.text()
        url = f"{edge}/api/v1/prompts/support-answer/labels/production"
        async with http.put(url, json={"version": 1}) as response:
            assert response.status == 200, await response.text()
        fetch_url = f"{edge}/api/v1/prompts/support-answer"
        params = {"label": "production"}
        async with http.get(fetch_url, params=params) as response:
            etag = response.headers["ETag"]

        async def livez() -> None:
            async with http.get(f"{edge}/livez") as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")

        async def cached() -> None:
            async with http.get(fetch_url, params=params) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")

        # Prompts never asked for, one per uncached request: each one a miss of the edge's cache.
        names = iter(await many_prompts(http, edge, 2 * total + 200))

        async def uncached() -> None:
            async with http.get(f"{edge}/api/v1/prompts/{next(names)}") as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")

        async def revalidated() -> None:
            async with http.get(fetch_url, params=params, headers={"If-None-Match": etag}) as response:
                await response.read()
                if response.status != 304:
                    raise RuntimeError(f"HTTP {response.status}")

        for _ in range(200):  # warm-up: connections, pools, caches
            await uncached()
            await cached()
            await livez()
        for clients in (1, 16):
            for name, call in (
                ("/livez", livez),
                ("prompt fetch, uncached", uncached),
                ("prompt fetch, cached", cached),
                ("prompt fetch (304)", revalidated),
            ):
                elapsed, latencies = await run_clients(call, clients, total)
                report(name, clients, elapsed, latencies)
        experiment_id = await experiment(http, edge)
    await asyncio.to_thread(measure_sdk, edge, token, experiment_id, total)


async def many_prompts(http: aiohttp.ClientSession, edge: str, count: int) -> list[str]:
    """`count` small prompts saved 16 at a time; their names."""
    names = [f"bench-{i}" for i in range(count)]
    pending = iter(names)

    async def saver() -> None:
        for name in pending:
            body = {
                "name": name,
                "type": "text",
                "template": "Answer {{ q }}",
                "variables": {"q": {"type": "string"}},
            }
            async with http.post(f"{edge}/api/v1/prompts", json=body) as response:
                assert response.status == 200, await response.text()

    started = time.perf_counter()
    await asyncio.gather(*(saver() for _ in range(16)))
    print(f"saved {count} prompts in {time.perf_counter() - started:.1f} s (16 clients)\n", flush=True)
    return names


async def experiment(http: aiohttp.ClientSession, edge: str) -> str:
    """A running experiment over two versions of the prompt (the second saved here)."""
    second = {**PROMPT, "config": {"model": "gpt-4o-mini", "temperature": 0.7}}
    async with http.post(f"{edge}/api/v1/prompts", json=second) as response:
        assert response.status == 200, await response.text()
    body = {
        "prompt": "support-answer",
        "name": "temperature",
        "variants": [
            {"key": "cool", "version": 1, "weight": 0.5},
            {"key": "warm", "version": 2, "weight": 0.5},
        ],
        "seed": "bench",
    }
    async with http.post(f"{edge}/api/v1/experiments", json=body) as response:
        assert response.status == 200, await response.text()
        experiment_id: str = (await response.json())["id"]
    async with http.post(f"{edge}/api/v1/experiments/{experiment_id}/start") as response:
        assert response.status == 200, await response.text()
    return experiment_id


def calls_per_second(name: str, call: Callable[[int], object], total: int) -> None:
    started = time.perf_counter()
    for i in range(total):
        call(i)
    elapsed = time.perf_counter() - started
    print(
        f"{name:<26} clients=1   n={total:<6} {total / elapsed:>8.0f} /s  "
        f"{elapsed / total * 1e6:.2f} µs a call"
    )


def measure_sdk(edge: str, token: str, experiment_id: str, requests: int) -> None:
    """The SDK's cached prompt and local assignment paths, in this thread (no request once warm)."""
    total = max(requests, 1000) * 50
    units = [f"user-{i}" for i in range(1000)]
    bare = Experiment("bench", (Variant("cool", 0.5), Variant("warm", 0.5)))
    with MnoClient(edge, token, cache_ttl=3600.0) as client:
        client.get_prompt("support-answer")
        for unit in units:  # the units' exposures are logged now, before the timing
            client.assign(experiment_id, unit)
        assert client.flush(120), "exposures not logged"
        print()
        calls_per_second("SDK get_prompt (cached)", lambda i: client.get_prompt("support-answer"), total)
        calls_per_second("SDK assign (local)", lambda i: client.assign(experiment_id, units[i % 1000]), total)
        calls_per_second("bare assign (mno_wire)", lambda i: assign(bare, units[i % 1000]), total)
        calls_per_second("bare gb_hash", lambda i: gb_hash("bench", units[i % 1000]), total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per route and level of concurrency"
    )
    args = parser.parse_args()
    with local_mesh([AgentName.SUPER_AGENT, AgentName.LEARNING]) as mesh:
        print(
            f"mesh ready ({os.cpu_count()} cores); {args.requests} requests per route and level\n", flush=True
        )
        asyncio.run(measure(mesh.edge_url, mesh.token, args.requests))


if __name__ == "__main__":
    main()
