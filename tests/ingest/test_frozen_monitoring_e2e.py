"""A frozen MonitoringAgent (SIGSTOP) while ingesting: teams without budgets are served without
asking it, and teams with budgets get 503 + Retry-After (nothing accepted), not a 504."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures import teams
from tests.fixtures.edge import call, gauge, until
from tests.fixtures.mesh import AgentProcess, MeshLauncher
from tests.ingest.test_token_events_e2e import event

PLAN = {"artifact_storage_bytes": 10**9, "prompts": 10, "experiments": 1, "seats": 3, "features": []}
ASKED = ("mno.rpc.monitoring.budget_presence", "mno.rpc.monitoring.budget_admission")
REQUEST_TIMEOUT = 5.0


@pytest.fixture
async def agents(launcher: MeshLauncher) -> AsyncIterator[tuple[AgentProcess, AgentProcess, asyncpg.Pool]]:
    launcher.overrides = {
        "plans": {
            "free": {**PLAN, "monthly_token_events": 1000},
            "local": {**PLAN, "monthly_token_events": 10**9},
        },
        "nats": {"request_timeout_seconds": REQUEST_TIMEOUT},
    }
    monitoring = launcher.start(AgentName.MONITORING)
    edge = launcher.start(AgentName.SUPER_AGENT)
    db = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield edge, monitoring, db
    finally:
        if monitoring.process.poll() is None:
            os.kill(monitoring.process.pid, signal.SIGCONT)
        await db.close()


async def questions_asked(edge: AgentProcess) -> dict[str, float]:
    """How many budget questions (presence, admission) the edge has sent the MonitoringAgent."""
    async with aiohttp.ClientSession() as http, http.get(f"{edge.metrics_url}/metrics") as response:
        text = await response.text()
    asked = dict.fromkeys(ASKED, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            subject = sample.labels.get("subject")
            if sample.name == "mno_rpc_client_duration_seconds_count" and subject in asked:
                asked[subject] += sample.value
    return asked


async def test_a_frozen_monitoring_agent_does_not_slow_teams_without_budgets(
    launcher: MeshLauncher, agents: tuple[AgentProcess, AgentProcess, asyncpg.Pool]
) -> None:
    """While the MonitoringAgent is stopped, a team without budgets is accepted without the edge
    asking any budget question (well inside the request timeout), and a team with budgets is
    answered 503 with Retry-After, nothing accepted."""
    edge, monitoring, pool = agents
    async with pool.acquire() as conn:
        plain = await teams.org_team_key(conn, [Permission.TOKEN_EVENTS_WRITE])
        budgeted = await teams.org_team_key(conn, [Permission.TOKEN_EVENTS_WRITE, Permission.BUDGETS_WRITE])
    status, body = await call(
        launcher,
        "POST",
        "/api/v1/budgets",
        budgeted,
        {"name": "cap", "amount_usd": "100", "hard_limit": True},
    )
    assert status == 201, body
    for token, event_id in ((plain, "warm-plain"), (budgeted, "warm-budgeted")):
        status, body = await call(
            launcher, "POST", "/api/v1/token-events", token, {"events": [event(event_id)]}
        )
        assert status == 200, body

    os.kill(monitoring.process.pid, signal.SIGSTOP)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{launcher.edge_url}/api/v1/token-events",
                json={"events": [event("frozen-budgeted")]},
                headers={"Authorization": f"Bearer {budgeted}"},
            ) as response:
                assert response.status == 503, await response.text()
                assert response.headers["Retry-After"].isdigit()
                refused = await response.json()
        assert refused["error"]["code"] == "unavailable"

        before = await questions_asked(edge)
        started = time.monotonic()
        status, body = await call(
            launcher, "POST", "/api/v1/token-events", plain, {"events": [event("frozen-plain")]}
        )
        elapsed = time.monotonic() - started
        assert status == 200, body
        assert body["ids"] == ["frozen-plain"]
        assert await questions_asked(edge) == before
        assert elapsed < REQUEST_TIMEOUT
    finally:
        os.kill(monitoring.process.pid, signal.SIGCONT)

    # Nothing of the refused batch was kept: once the agent is back, the same id is accepted as new.
    status, body = await call(
        launcher, "POST", "/api/v1/token-events", budgeted, {"events": [event("frozen-budgeted")]}
    )
    assert status == 200, body
    assert body["ids"] == ["frozen-budgeted"]


async def _edge_before_monitoring(launcher: MeshLauncher) -> tuple[AgentProcess, str, asyncpg.Pool]:
    """An edge started while no MonitoringAgent is up (its first load of the set fails), then the
    agent, then a budget made through the edge; the edge, the team's key and a pool."""
    edge = launcher.start(AgentName.SUPER_AGENT)
    launcher.start(AgentName.MONITORING)
    db = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    async with db.acquire() as conn:
        key = await teams.org_team_key(conn, [Permission.BUDGETS_WRITE, Permission.TOKEN_EVENTS_WRITE])
    status, body = await call(
        launcher, "POST", "/api/v1/budgets", key, {"name": "cap", "amount_usd": "100", "hard_limit": True}
    )
    assert status == 201, body
    return edge, key, db


async def test_an_edge_started_before_the_monitoring_agent_loads_the_budget_set_once_it_is_up(
    launcher: MeshLauncher,
) -> None:
    """An edge whose first load of the teams-with-budgets set found no MonitoringAgent keeps trying
    on its own: a budget made once the agent is up is in the set within seconds, with no ingest
    request to prompt a load and long before the 30 s periodic refresh."""
    edge, _, db = await _edge_before_monitoring(launcher)
    try:

        async def learned() -> bool:
            return await gauge(edge, "mno_edge_budget_teams") >= 1

        assert await until(learned, 10.0), "the edge did not load the set within 10 s of the agent's start"
    finally:
        await db.close()


async def test_a_budgeted_teams_batch_is_admitted_at_once_when_the_agent_is_up_again(
    launcher: MeshLauncher,
) -> None:
    """While the MonitoringAgent starts, another team's batches keep the edge's load attempts failing
    (each is served without budgets); the moment the agent is up, a budget is made and its team's
    batch sent: though the last attempt failed under 2 s ago, that team gets an attempt of its own,
    finds the agent and is admitted (not a 503)."""
    launcher.start(AgentName.SUPER_AGENT)
    monitoring = launcher.start(AgentName.MONITORING, wait=False)
    db = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        async with db.acquire() as conn:
            plain = await teams.org_team_key(conn, [Permission.TOKEN_EVENTS_WRITE])
            key = await teams.org_team_key(conn, [Permission.BUDGETS_WRITE, Permission.TOKEN_EVENTS_WRITE])
        sent = 0
        while not await asyncio.to_thread(monitoring.ready):
            status, body = await call(
                launcher, "POST", "/api/v1/token-events", plain, {"events": [event(f"p{sent}")]}
            )
            assert status == 200, body
            sent += 1
            await asyncio.sleep(0.2)
        status, body = await call(
            launcher, "POST", "/api/v1/budgets", key, {"name": "cap", "amount_usd": "100", "hard_limit": True}
        )
        assert status == 201, body
        status, body = await call(launcher, "POST", "/api/v1/token-events", key, {"events": [event("first")]})
        assert status == 200, body
    finally:
        await db.close()
