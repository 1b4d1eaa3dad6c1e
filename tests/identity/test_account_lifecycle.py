"""An account's end across the whole mesh: deactivated at once, purged later once every agent confirms."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import asyncpg
import pytest

from services.identity import apikeys
from services.identity.lifecycle import deactivate_account
from shared.db.postgres import create_pool
from shared.messages.agents import ALL_AGENTS, AgentName
from shared.messages.permissions import Permission
from tests.fixtures.mesh import MeshLauncher, refused_within


@pytest.fixture
async def mesh_without_learning(launcher: MeshLauncher) -> AsyncIterator[tuple[MeshLauncher, asyncpg.Pool]]:
    launcher.overrides = {"accounts": {"lifecycle_check_interval_seconds": 0.3}}
    starting = [launcher.start(agent, wait=False) for agent in ALL_AGENTS if agent != AgentName.LEARNING]
    for agent in starting:
        await asyncio.to_thread(agent.wait_ready)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        yield launcher, pool
    finally:
        await pool.close()


async def make_account(pool: asyncpg.Pool) -> tuple[str, str, str]:
    """An organisation account with its default team and an API key: (account id, team id, token)."""
    async with pool.acquire() as conn:
        account = await conn.fetchval(
            "INSERT INTO super_agent.accounts (github_id, login, kind) VALUES (4711, 'acme', 'Organization') "
            "RETURNING id::text"
        )
        team = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1::uuid, 'acme', 'Acme', true) RETURNING id::text",
            account,
        )
        _, token = await apikeys.create(
            conn, team_id=team, name="ci", permissions=[Permission.MESH_READ], created_by=None
        )
    return account, team, token


async def eventually(pool: asyncpg.Pool, sql: str, expected: object, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = await pool.fetchval(sql)
        if value == expected or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_deactivation_stops_service_and_purge_waits_for_every_agent(
    mesh_without_learning: tuple[MeshLauncher, asyncpg.Pool],
) -> None:
    """A deactivated account's key is refused (within the edge's key cache time); its purge completes
    only when the last agent, started late, has confirmed; then its teams and keys are gone and the
    account is a tombstone."""
    launcher, pool = mesh_without_learning
    account, team, token = await make_account(pool)
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{launcher.edge_url}/api/v1/mesh", headers=auth) as response:
            assert response.status == 200
        async with pool.acquire() as conn:
            event = await deactivate_account(conn, account, reason="cancelled", retention=timedelta(0))
        assert event is not None
        assert event.team_ids == [team]
    # At once in the database; at the edge within its API-key cache time (auth.api_key_cache_seconds).
    await refused_within(f"{launcher.edge_url}/api/v1/mesh", token, 6.0)

    confirmations = "SELECT count(*) FROM super_agent.purge_confirmations"
    assert await eventually(pool, confirmations, len(ALL_AGENTS) - 1) == len(ALL_AGENTS) - 1
    await asyncio.sleep(1.0)
    assert (
        await pool.fetchval("SELECT status FROM super_agent.accounts WHERE id = $1::uuid", account)
        == "deactivated"
    )

    await asyncio.to_thread(launcher.start, AgentName.LEARNING)
    status = "SELECT status FROM super_agent.accounts WHERE github_id = 4711"
    assert await eventually(pool, status, "purged") == "purged"
    assert await pool.fetchval(confirmations) == len(ALL_AGENTS)
    assert await pool.fetchval("SELECT count(*) FROM super_agent.teams WHERE id = $1::uuid", team) == 0
    assert await pool.fetchval("SELECT count(*) FROM super_agent.api_keys") == 0
    assert await pool.fetchval("SELECT completed_at IS NOT NULL FROM super_agent.purge_requests") is True
