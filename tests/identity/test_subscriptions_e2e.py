"""Marketplace purchases through the real edge: subscriptions, plans and their limits, cancellation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest

from services.identity import apikeys
from services.identity.plans import PlanBook
from services.webhooks.signature import sign
from shared.bus.errors import AgentError
from shared.config.models import PlanEntitlements
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from tests.fixtures.mesh import MeshLauncher, refused_within
from tests.marketplace.factories import ORG, TEAM, payload, purchase

SECRET = "marketplace-secret"
TINY = {
    "monthly_token_events": 10,
    "artifact_storage_bytes": 10,
    "prompts": 1,
    "experiments": 1,
    "seats": 1,
    "features": ["dashboard"],
}


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[MeshLauncher, asyncpg.Pool]]:
    launcher.overrides = {
        "github": {"marketplace_webhook_secrets": [SECRET]},
        "plans": {"free": TINY, "team": TINY},
        "accounts": {
            "marketplace_plans": {str(TEAM["id"]): "team"},
            "default_plan": "free",
            "lifecycle_check_interval_seconds": 0.3,
        },
    }
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        yield launcher, pool
    finally:
        await pool.close()


async def deliver(launcher: MeshLauncher, body: dict[str, Any]) -> str:
    raw = json.dumps(body).encode()
    guid = str(uuid.uuid4())
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{launcher.edge_url}/webhooks/github/marketplace",
            data=raw,
            headers={
                "X-GitHub-Event": "marketplace_purchase",
                "X-GitHub-Delivery": guid,
                "X-GitHub-Hook-ID": "77",
                "X-Hub-Signature-256": sign(raw, SECRET),
                "Content-Type": "application/json",
            },
        )
        assert response.status == 202, await response.text()
    return guid


async def settled(pool: asyncpg.Pool, guid: str) -> str:
    deadline = time.monotonic() + 15
    while True:
        status = await pool.fetchval(
            "SELECT status FROM super_agent.webhook_deliveries WHERE guid = $1", guid
        )
        if status not in (None, "received"):
            return str(status)
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def team_key(pool: asyncpg.Pool, login: str) -> str:
    async with pool.acquire() as conn:
        team = await conn.fetchval(
            "SELECT t.id::text FROM super_agent.teams t JOIN super_agent.accounts a ON a.id = t.account_id "
            "WHERE a.login = $1 AND t.is_default",
            login,
        )
        _, token = await apikeys.create(
            conn, team_id=team, name="billing", permissions=[Permission.USAGE_READ], created_by=None
        )
    return token


async def test_purchase_sets_the_plan_and_cancellation_deactivates(
    edge: tuple[MeshLauncher, asyncpg.Pool],
) -> None:
    """purchased maps the Marketplace plan to its configured plan (visible in /api/v1/usage); a
    cancellation effective in a second is scheduled, then deactivates the account when it comes due
    (the periodic tick), whose keys then get 401; the history has every step."""
    launcher, pool = edge
    now = datetime.now(UTC)
    bought = await deliver(
        launcher, payload("purchased", now - timedelta(seconds=10), purchase(TEAM, account=ORG))
    )
    assert await settled(pool, bought) == "processed"
    row = await pool.fetchrow(
        "SELECT status, plan_key FROM super_agent.subscriptions WHERE account_github_id = $1", ORG["id"]
    )
    assert (row["status"], row["plan_key"]) == ("active", "team")
    token = await team_key(pool, ORG["login"])
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{launcher.edge_url}/api/v1/usage", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            assert r.status == 200
            usage = await r.json()
    assert usage["plan"] == "team"
    assert usage["limits"]["seats"] == 1
    assert usage["usage"] == {"seats": 0, "monthly_token_events": 0}

    cancelled = await deliver(
        launcher, payload("cancelled", now + timedelta(seconds=1), purchase(TEAM, account=ORG))
    )
    assert await settled(pool, cancelled) == "processed"
    status = "SELECT status FROM super_agent.subscriptions WHERE account_github_id = $1"
    assert await pool.fetchval(status, ORG["id"]) == "pending_cancellation"
    deadline = time.monotonic() + 15
    while await pool.fetchval(status, ORG["id"]) != "cancelled":
        assert time.monotonic() < deadline, "the scheduled cancellation never came due"
        await asyncio.sleep(0.1)
    account = await pool.fetchrow(
        "SELECT status, purge_after FROM super_agent.accounts WHERE github_id = $1", ORG["id"]
    )
    assert account["status"] == "deactivated"
    assert account["purge_after"] > now + timedelta(days=29)
    await refused_within(f"{launcher.edge_url}/api/v1/usage", token, 6.0)
    history = await pool.fetch(
        "SELECT action, to_status FROM super_agent.subscription_history "
        "WHERE account_github_id = $1 ORDER BY id",
        ORG["id"],
    )
    assert [(h["action"], h["to_status"]) for h in history] == [
        ("purchased", "active"),
        ("cancelled", "pending_cancellation"),
        ("tick", "cancelled"),
    ]


async def test_redelivered_purchase_is_applied_once(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """The same delivery posted twice (GitHub's manual redelivery) changes the record once."""
    launcher, pool = edge
    body = payload("purchased", datetime.now(UTC), purchase(TEAM, account=ORG))
    raw = json.dumps(body).encode()
    headers = {
        "X-GitHub-Event": "marketplace_purchase",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "77",
        "X-Hub-Signature-256": sign(raw, SECRET),
    }
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(
                f"{launcher.edge_url}/webhooks/github/marketplace", data=raw, headers=headers
            ) as r:
                assert r.status == 202
    await settled(pool, headers["X-GitHub-Delivery"])
    await asyncio.sleep(0.3)
    assert await pool.fetchval("SELECT count(*) FROM super_agent.subscription_history") == 1


async def test_a_full_plan_refuses_a_new_seat_naming_the_limit(
    edge: tuple[MeshLauncher, asyncpg.Pool],
) -> None:
    """With every seat of the plan taken, adding a member is refused with payment_required naming seats."""
    _, pool = edge
    async with pool.acquire() as conn:
        account = await conn.fetchval(
            "INSERT INTO super_agent.accounts (github_id, login, kind) VALUES (55, 'small', 'Organization') "
            "RETURNING id"
        )
        team = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1, 'small', 'S', true) RETURNING id",
            account,
        )
        first = await conn.fetchval(
            "INSERT INTO super_agent.users (github_id, login) VALUES (1, 'u1') RETURNING id::text"
        )
        second = await conn.fetchval(
            "INSERT INTO super_agent.users (github_id, login) VALUES (2, 'u2') RETURNING id::text"
        )
        book = PlanBook({"free": PlanEntitlements(**TINY)}, "free")
        await book.require_seat(conn, account, first)
        await conn.execute(
            "INSERT INTO super_agent.team_members (team_id, user_id, role) VALUES ($1, $2::uuid, 'owner')",
            team,
            first,
        )
        await book.require_seat(conn, account, first)  # already a member: no new seat needed
        with pytest.raises(AgentError) as refused:
            await book.require_seat(conn, account, second)
    assert refused.value.body.code == ErrorCode.PAYMENT_REQUIRED
    assert refused.value.body.details[0]["limit"] == "seats"
    assert "seats" in refused.value.body.message
