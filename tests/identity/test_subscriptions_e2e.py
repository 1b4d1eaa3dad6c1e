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

from services.identity import apikeys, lifecycle
from services.identity.plans import PlanBook
from services.identity.subscriptions import SubscriptionBook
from services.marketplace.models import MarketplacePurchaseEvent
from services.webhooks.signature import sign
from shared.bus.errors import AgentError
from shared.config.models import PlanEntitlements
from shared.db.migrations import migrate_all
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from tests.fixtures.mesh import MeshLauncher, refused_within
from tests.marketplace.factories import BASIC, ENTERPRISE, ORG, TEAM, payload, purchase

SECRET = "marketplace-secret"
OPERATOR_TOKEN = "operator-token-for-plan-tests-0123456789"
TINY = {
    "monthly_token_events": 10,
    "artifact_storage_bytes": 10,
    "prompts": 1,
    "experiments": 1,
    "seats": 1,
    "features": ["dashboard"],
}


MAPPING = {str(TEAM["id"]): "team", str(BASIC["id"]): "team"}


def configure(launcher: MeshLauncher) -> None:
    launcher.overrides = {
        "auth": {"bootstrap_token": OPERATOR_TOKEN},
        "github": {"marketplace_webhook_secrets": [SECRET]},
        "plans": {"free": TINY, "team": TINY},
        "accounts": {
            "marketplace_plans": MAPPING,
            "default_plan": "free",
            "lifecycle_check_interval_seconds": 0.3,
        },
    }


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[MeshLauncher, asyncpg.Pool]]:
    configure(launcher)
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
        "Content-Type": "application/json",
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


async def usage_with(launcher: MeshLauncher, token: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{launcher.edge_url}/api/v1/usage", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        assert r.status == 200, await r.text()
        answer: dict[str, Any] = await r.json()
        return answer


async def test_a_customer_back_after_the_purge_is_served_with_the_seats_bought(
    edge: tuple[MeshLauncher, asyncpg.Pool],
) -> None:
    """Bought, cancelled, purged, then bought again as 10 seats of a per-seat plan: the account is
    active, a key of its new default team works at the edge, and its seat limit is the 10 bought."""
    launcher, pool = edge
    now = datetime.now(UTC)
    for action, at in (("purchased", now - timedelta(days=2)), ("cancelled", now - timedelta(days=1))):
        assert await settled(
            pool, await deliver(launcher, payload(action, at, purchase(TEAM, account=ORG)))
        ) == ("processed")
    account = await pool.fetchval("SELECT id::text FROM super_agent.accounts WHERE github_id = $1", ORG["id"])
    await pool.execute(
        "INSERT INTO super_agent.purge_requests (request_id, account_id, team_ids, reason) "
        "SELECT 'account:e2e', $1::uuid, array_agg(id), 'account cancelled' FROM super_agent.teams "
        "WHERE account_id = $1::uuid",
        account,
    )
    await lifecycle.complete_purge(pool, "account:e2e")
    assert (
        await pool.fetchval("SELECT status FROM super_agent.accounts WHERE id = $1::uuid", account)
        == "purged"
    )

    back = await deliver(
        launcher,
        payload("purchased", now - timedelta(minutes=1), purchase(BASIC, account=ORG, unit_count=10)),
    )
    assert await settled(pool, back) == "processed"

    assert (
        await pool.fetchval("SELECT status FROM super_agent.accounts WHERE id = $1::uuid", account)
        == "active"
    )
    usage = await usage_with(launcher, await team_key(pool, ORG["login"]))
    assert usage["plan"] == "team"
    assert usage["limits"]["seats"] == 10


async def test_existing_subscribers_follow_a_changed_mapping_at_start(launcher: MeshLauncher) -> None:
    """A record written when its paid plan had no mapping (default plan) takes the mapped plan when
    the SuperAgent starts with the mapping, and its history says so."""
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        await migrate_all(pool)
        unmapped = SubscriptionBook({}, "free", timedelta(days=30))
        event_body = payload("purchased", datetime.now(UTC), purchase(TEAM, account=ORG))
        async with pool.acquire() as conn, conn.transaction():
            await unmapped.apply_event(
                conn, MarketplacePurchaseEvent.model_validate(event_body), delivery_id=str(uuid.uuid4())
            )
        assert await pool.fetchval("SELECT plan_key FROM super_agent.subscriptions") == "free"

        configure(launcher)
        await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)

        assert await pool.fetchval("SELECT plan_key FROM super_agent.subscriptions") == "team"
        assert (
            await pool.fetchval("SELECT reason FROM super_agent.subscription_history WHERE action = 'remap'")
            == f"plan mapping changed: Marketplace plan {TEAM['id']} ('Team') now maps to 'team' (was 'free')"
        )
    finally:
        await pool.close()


async def test_a_paid_plan_without_mapping_is_shown_in_the_outcome_and_to_the_operator(
    edge: tuple[MeshLauncher, asyncpg.Pool],
) -> None:
    """A purchase of a paid plan the mapping lacks is processed onto the default plan, its delivery's
    outcome names the plan, and the operator's listing of unmapped plans has it (a team key: 403)."""
    launcher, pool = edge
    guid = await deliver(launcher, payload("purchased", datetime.now(UTC), purchase(ENTERPRISE, account=ORG)))
    assert await settled(pool, guid) == "processed"
    outcome = await pool.fetchval("SELECT outcome FROM super_agent.webhook_deliveries WHERE guid = $1", guid)
    assert f"paid Marketplace plan {ENTERPRISE['id']} ('Enterprise')" in outcome
    assert await pool.fetchval("SELECT plan_key FROM super_agent.subscriptions") == "free"

    url = f"{launcher.edge_url}/api/v1/operator/marketplace-plans/unmapped"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as r:
            assert r.status == 200, await r.text()
            listing = await r.json()
        token = await team_key(pool, ORG["login"])
        async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 403
    assert listing == {
        "default_plan": "free",
        "plans": [{"plan_id": ENTERPRISE["id"], "name": "Enterprise", "price_model": "FLAT_RATE"}],
    }
