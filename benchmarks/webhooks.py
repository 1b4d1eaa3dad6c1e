"""Benchmark: GitHub webhook deliveries accepted (verified + recorded + queued + 202) per second.

Starts nats-server, PostgreSQL and the SuperAgent, then 32 concurrent senders post signed
`installation_repositories` deliveries (each its own GUID). Prints accepted/s and latency
percentiles, then how long the consumer took to apply them all (processed/s).
Target (issue 3): p95 under 50 ms and at least 1,000 deliveries/s at 32 senders.

Beside it, in the same run: a bare aiohttp process that reads each body, checks its HMAC and answers
202 (no streaming budget, no database, no bus), the floor any verifying receiver pays here.

    .venv/bin/python benchmarks/webhooks.py [--deliveries 5000] [--senders 32]
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import socket
import subprocess
import sys
import time
import urllib.request
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


def serve_bare(port: int) -> None:
    """The peer: read the body, compare its HMAC in constant time, answer 202."""
    from aiohttp import web

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not hmac.compare_digest(sign(body, SECRET), request.headers.get("X-Hub-Signature-256", "")):
            return web.Response(status=401)
        return web.Response(status=202)

    async def livez(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=25 * 1024 * 1024)
    app.router.add_post("/webhooks/github", receive)
    app.router.add_get("/livez", livez)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def start_bare() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/livez", timeout=1).close()
            return process, url
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("the bare receiver did not start") from None
            time.sleep(0.1)


async def send_all(url: str, name: str, deliveries: int, senders: int) -> dict[str, float]:
    """`deliveries` signed deliveries (each its own body and GUID) from `senders` closed-loop senders."""
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
            async with http.post(f"{url}/webhooks/github", data=body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"HTTP {response.status}")

        for _ in range(200):
            await send()
        elapsed, latencies = await run_clients(send, senders, deliveries)
        return report(name, senders, elapsed, latencies)


async def measure(edge: str, dsn: str, deliveries: int, senders: int) -> None:
    bare, bare_url = start_bare()
    try:
        await send_all(bare_url, "bare aiohttp verify+202", deliveries, senders)
    finally:
        bare.terminate()
        bare.wait()
    started = time.perf_counter()
    row = await send_all(edge, "webhook accepted (202)", deliveries, senders)

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
    sent = deliveries + 200
    print(f"all applied {applied:.2f} s after the first send: {sent / applied:.0f} applied/s; {statuses}")
    ok = row["p95"] < 50 and row["rps"] >= 1000
    print(f"target p95 < 50 ms and >= 1000/s at {senders} senders: {'met' if ok else 'NOT met'}")


def main() -> None:
    if sys.argv[1:2] == ["--serve-bare"]:
        serve_bare(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=32)
    args = parser.parse_args()
    with local_mesh([AgentName.SUPER_AGENT], {"GITHUB_WEBHOOK_SECRET": SECRET}) as mesh:
        asyncio.run(measure(mesh.edge_url, mesh.postgres_dsn, args.deliveries, args.senders))


if __name__ == "__main__":
    main()
