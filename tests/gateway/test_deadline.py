"""The edge bounds every request by http.request_timeout_seconds: past it a read answers 504 `timeout`
and a write 504 `outcome_unknown` (it may still be applied), instead of hanging on a stuck agent."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from agents.super_agent.routes import ROUTES
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.mesh import AgentProcess, MeshLauncher
from tests.fixtures.teams import org_team_key

EDGE_DEADLINE = 1.0
BUS_TIMEOUT = 30.0  # far beyond the edge's deadline: only the edge can end these requests


@dataclass
class Frozen:
    edge_url: str
    auth: dict[str, str]


@pytest.fixture
async def frozen(launcher: MeshLauncher) -> AsyncIterator[Frozen]:
    """The mesh's edge with its MonitoringAgent stopped (SIGSTOP), and a team key to call it with."""
    launcher.overrides = {
        "http": {"request_timeout_seconds": EDGE_DEADLINE},
        "nats": {"request_timeout_seconds": BUS_TIMEOUT},
    }
    monitoring: AgentProcess = launcher.start(AgentName.MONITORING)
    launcher.start(AgentName.SUPER_AGENT)
    conn = await asyncpg.connect(launcher.postgres_dsn)
    try:
        key = await org_team_key(conn, [Permission.COSTS_READ, Permission.BUDGETS_WRITE])
    finally:
        await conn.close()
    os.kill(monitoring.process.pid, signal.SIGSTOP)
    try:
        yield Frozen(launcher.edge_url, {"Authorization": f"Bearer {key}"})
    finally:
        os.kill(monitoring.process.pid, signal.SIGCONT)


async def test_a_read_past_the_deadline_is_a_504_timeout(frozen: Frozen) -> None:
    """GET /api/v1/costs, forwarded to a frozen MonitoringAgent, is ended by the edge's deadline."""
    now = datetime.now(UTC).replace(microsecond=0)
    query = {"since": (now - timedelta(days=1)).isoformat(), "until": now.isoformat()}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=BUS_TIMEOUT / 2)) as http:
        async with http.get(f"{frozen.edge_url}/api/v1/costs", params=query, headers=frozen.auth) as answer:
            assert answer.status == 504
            assert (await answer.json())["error"]["code"] == "timeout"


async def test_a_write_past_the_deadline_says_its_outcome_is_unknown(frozen: Frozen) -> None:
    """A forwarded write the agent may still apply when it wakes is answered `outcome_unknown`."""
    budget = {"name": "b", "period": "month", "amount_usd": "10"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=BUS_TIMEOUT / 2)) as http:
        async with http.post(f"{frozen.edge_url}/api/v1/budgets", json=budget, headers=frozen.auth) as answer:
            body = await answer.json()
            assert answer.status == 504, body
            assert body["error"]["code"] == "outcome_unknown"


def test_only_answers_that_stream_are_unbounded() -> None:
    """The routes exempt from the deadline are exactly the proxy's, the audit export, and the file
    transfers of the package registry and the supply chain (an upload or download streams for as long
    as its size needs)."""
    unbounded = {(route.method, route.path) for route in ROUTES if not route.deadline}
    assert unbounded
    transfers = {
        ("GET", "/registry/{team}/pypi/files/{sha256}/{filename}"),
        ("POST", "/registry/{team}/pypi/legacy/"),
        ("PUT", "/registry/{team}/npm/{name}"),
        ("GET", "/registry/{team}/npm/{name}/-/{filename}"),
        ("GET", "/registry/{team}/npm/{scope}/{name}/-/{filename}"),
        ("POST", "/api/v1/sboms"),
        ("POST", "/api/v1/supply-chain/scan"),
        ("POST", "/api/v1/operator/advisories/import"),
        ("POST", "/api/v1/attestations/verify"),
    }
    assert all(
        path.startswith("/proxy/") or path == "/api/v1/audit/export" or (method, path) in transfers
        for method, path in unbounded
    )
