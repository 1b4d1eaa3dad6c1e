"""Benchmark: proxy mode's cost over calling the provider directly.

Starts nats-server, PostgreSQL, the SuperAgent and the MonitoringAgent with the OpenAI upstream set to
a local stand-in provider (tests/proxy/stand_in.py, in its own process), then sends the same
non-streamed chat completion directly to the stand-in and through `/proxy/openai/v1` (forwarded,
answered, and its usage recorded through ingest: plan count, JetStream publish). Prints calls/s and
latency percentiles of both, and the latency the proxy adds at each percentile.

    .venv/bin/python benchmarks/proxy.py [--calls 2000] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import local_mesh, report, run_clients

from shared.messages.agents import AgentName
from tests.fixtures.stack import free_port

BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}).encode()


def serve_stand_in(port: int) -> None:
    from aiohttp import web

    from tests.proxy.stand_in import StandIn

    stand_in = StandIn(port=port)
    stand_in.calls = _Forgetful()  # do not keep every call of a long run
    app = stand_in.app()

    async def livez(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/livez", livez)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class _Forgetful(list):  # type: ignore[type-arg]
    def append(self, _item: object) -> None:
        pass


def start_stand_in() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-stand-in", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/livez", timeout=1).close()
            return process, url
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("the stand-in provider did not start") from None
            time.sleep(0.1)


async def drive(name: str, url: str, headers: dict[str, str], calls: int, clients: int) -> dict[str, float]:
    async with aiohttp.ClientSession(headers={**headers, "Content-Type": "application/json"}) as http:

        async def call() -> None:
            async with http.post(url, data=BODY) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {await response.text()}")

        for _ in range(100):  # warm up connections on both sides
            await call()
        elapsed, latencies = await run_clients(call, clients, calls)
        return report(name, clients, elapsed, latencies)


async def measure(edge: str, stand_in: str, token: str, calls: int, clients: int) -> None:
    provider_key = {"Authorization": "Bearer sk-user-openai"}
    direct = await drive(
        "direct to the stand-in", f"{stand_in}/v1/chat/completions", provider_key, calls, clients
    )
    proxied = await drive(
        "through /proxy/openai/v1",
        f"{edge}/proxy/openai/v1/chat/completions",
        {**provider_key, "X-MNO-Api-Key": token},
        calls,
        clients,
    )
    added = {q: proxied[q] - direct[q] for q in ("p50", "p95", "p99")}
    print(
        f"added by the proxy: p50={added['p50']:.2f} ms  p95={added['p95']:.2f} ms  "
        f"p99={added['p99']:.2f} ms; "
        f"throughput {proxied['rps']:.0f}/s vs {direct['rps']:.0f}/s direct",
        flush=True,
    )


def main() -> None:
    if sys.argv[1:2] == ["--serve-stand-in"]:
        serve_stand_in(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    stand_in, stand_in_url = start_stand_in()
    try:
        env = {"MNO_PROXY_OPENAI_UPSTREAM": f"{stand_in_url}/v1"}
        with local_mesh([AgentName.SUPER_AGENT, AgentName.MONITORING], env) as mesh:
            asyncio.run(measure(mesh.edge_url, stand_in_url, mesh.token, args.calls, args.clients))
    finally:
        stand_in.terminate()
        stand_in.wait()


if __name__ == "__main__":
    main()
