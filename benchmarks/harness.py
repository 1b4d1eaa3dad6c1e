"""What every benchmark needs: the mesh on a throwaway local stack, closed-loop clients, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mno.stack import EmbeddedPostgres, NatsServer
from mno.supervisor import agent_environment, is_ready, prepare_database, start_agent, stop_agents
from shared.config import Settings, load_settings
from shared.messages.agents import ALL_AGENTS, AgentName
from tests.fixtures.stack import free_port


@dataclass(frozen=True)
class LocalMesh:
    settings: Settings
    nats_url: str
    postgres_dsn: str
    workdir: Path
    token: str

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http.port}"


@contextlib.contextmanager
def local_mesh(
    agents: Sequence[AgentName] = ALL_AGENTS, extra_env: dict[str, str] | None = None
) -> Iterator[LocalMesh]:
    """nats-server, PostgreSQL and the given agents (separate processes, as in production)."""
    workdir = Path(tempfile.mkdtemp(prefix="mno-bench-"))
    nats_server, postgres = NatsServer(), EmbeddedPostgres()
    nats_server.start(workdir, port=free_port(), monitor_port=free_port(), token=secrets.token_hex(12))
    dsn = postgres.start(workdir, port=free_port())
    os.environ.update({"MNO_DATA_DIR": str(workdir), "MNO_HTTP_PORT": str(free_port()), **(extra_env or {})})
    for agent in ALL_AGENTS:
        os.environ[f"MNO_{agent.value.upper()}_METRICS_PORT"] = str(free_port())
    settings = load_settings()
    # A real API key of the local team, checked against PostgreSQL on every request, as in production.
    _, token = asyncio.run(prepare_database(dsn, None))
    assert token is not None
    env = agent_environment(settings, os.environ, None, nats_server.url, dsn)
    processes = [start_agent(agent, settings, env, workdir) for agent in agents]
    finished = False
    try:
        deadline = time.monotonic() + 90
        while not all(is_ready(p.metrics_url) for p in processes):
            if time.monotonic() > deadline:
                raise SystemExit(f"agents not ready; logs in {workdir}")
            time.sleep(0.2)
        yield LocalMesh(settings, nats_server.url, dsn, workdir, token)
        finished = True
    finally:
        stop_agents(processes)
        postgres.stop()
        nats_server.stop()
        if finished:  # a failed run keeps its logs and data to read
            shutil.rmtree(workdir, ignore_errors=True)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def run_clients(
    call: Callable[[], Awaitable[None]], clients: int, total: int
) -> tuple[float, list[float]]:
    """`clients` closed-loop callers sharing `total` calls; returns elapsed seconds and latencies."""
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
        f"{name:<26} clients={clients:<3} n={len(latencies):<6} {row['rps']:>8.0f} /s  "
        f"p50={row['p50']:.2f} ms  p95={row['p95']:.2f} ms  p99={row['p99']:.2f} ms",
        flush=True,
    )
    return row
