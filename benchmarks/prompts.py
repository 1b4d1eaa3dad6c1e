"""Benchmark: prompt fetch through the edge (GET /api/v1/prompts/{name}?label=production: API key,
plan feature, NATS → LearningAgent → PostgreSQL → back), uncached and revalidated with If-None-Match
(304, no body), beside the edge's own `/livez` (no auth, no bus) in the same run.

Starts its own nats-server, PostgreSQL, the SuperAgent and the LearningAgent (separate processes).

    .venv/bin/python benchmarks/prompts.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import local_mesh, report, run_clients

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

        async def uncached() -> None:
            async with http.get(fetch_url, params=params) as response:
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
            await livez()
        for clients in (1, 16):
            for name, call in (
                ("/livez", livez),
                ("prompt fetch (200)", uncached),
                ("prompt fetch (304)", revalidated),
            ):
                elapsed, latencies = await run_clients(call, clients, total)
                report(name, clients, elapsed, latencies)


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
