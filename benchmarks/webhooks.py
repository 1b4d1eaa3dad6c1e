"""Benchmark: GitHub webhook deliveries accepted (verified + recorded + queued + 202) per second.

Starts nats-server, PostgreSQL and the SuperAgent, then 32 concurrent senders post signed
`installation_repositories` deliveries (each its own GUID). Prints accepted/s and latency
percentiles, then how long the consumer took to apply them all (processed/s).
Target (issue 3): p95 under 50 ms and at least 1,000 deliveries/s at 32 senders.

    .venv/bin/python benchmarks/webhooks.py [--deliveries 5000] [--senders 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import local_mesh, report, run_clients

from services.webhooks.signature import sign
from shared.messages.agents import AgentName

SECRET = "bench-webhook-secret"


def payload(index: int) -> bytes:
    return json.dumps(
        {
            "action": "added",
            "installation": {
                "id": 1000 + index % 50,
                "account": {"login": f"org-{index % 50}", "id": 5000 + index % 50, "type": "Organization"},
                "repository_selection": "selected",
            },
            "repositories_added": [
                {"id": index, "full_name": f"org-{index % 50}/repo-{index}", "private": False}
            ],
            "repositories_removed": [],
            "sender": {"login": "octocat", "id": 1, "type": "User"},
        }
    ).encode()


async def measure(edge: str, dsn: str, deliveries: int, senders: int) -> None:
    bodies = [payload(i) for i in range(deliveries + 200)]
    counter = iter(range(len(bodies)))
    async with aiohttp.ClientSession() as http:

        async def send() -> None:
            body = bodies[next(counter)]
            headers = {
                "X-GitHub-Event": "installation_repositories",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-GitHub-Hook-ID": "1",
                "X-Hub-Signature-256": sign(body, SECRET),
                "Content-Type": "application/json",
            }
            async with http.post(f"{edge}/webhooks/github", data=body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"HTTP {response.status}")

        for _ in range(200):
            await send()
        started = time.perf_counter()
        elapsed, latencies = await run_clients(send, senders, deliveries)
        row = report("webhook accepted (202)", senders, elapsed, latencies)

    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval(
            "SELECT count(*) FROM super_agent.webhook_deliveries WHERE status = 'received'"
        ):
            await asyncio.sleep(0.1)
        applied = time.perf_counter() - started
        statuses = dict(
            await conn.fetch("SELECT status, count(*) FROM super_agent.webhook_deliveries GROUP BY status")
        )
    finally:
        await conn.close()
    print(
        f"all applied {applied:.2f} s after the first send: {deliveries / applied:.0f} applied/s; {statuses}"
    )
    ok = row["p95"] < 50 and row["rps"] >= 1000
    print(f"target p95 < 50 ms and >= 1000/s at {senders} senders: {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=32)
    args = parser.parse_args()
    with local_mesh([AgentName.SUPER_AGENT], {"GITHUB_WEBHOOK_SECRET": SECRET}) as mesh:
        asyncio.run(measure(mesh.edge_url, mesh.postgres_dsn, args.deliveries, args.senders))


if __name__ == "__main__":
    main()
