"""Subscriptions folded into accounts (SubscriptionBook on a real PostgreSQL): returning customers,
cancellations of unknown accounts, unmapped paid plans and re-mapping, per-seat plans."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import nats
import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from services.identity import apikeys, lifecycle
from services.identity.plans import PlanBook
from services.identity.subscriptions import SubscriptionBook, unmapped_plan_ids
from services.marketplace.entitlements import UnmappedPlan
from services.marketplace.models import PriceModel
from services.webhooks.deliveries import StoredDelivery
from services.webhooks.processing import Outcome
from shared.bus.client import Bus
from shared.bus.errors import AgentError
from shared.bus.streams import ensure_streams
from shared.config.models import JetStreamSettings, PlanEntitlements
from shared.messages.permissions import Permission
from tests.marketplace.factories import BASIC, ENTERPRISE, ORG, SENDER, TEAM, payload, purchase

RETENTION = timedelta(days=30)
ONE_SEAT = PlanEntitlements(
    monthly_token_events=10, artifact_storage_bytes=10, prompts=1, experiments=1, seats=1, features=[]
)
MAPPED = {str(TEAM["id"]): "team", str(BASIC["id"]): "team"}
BOOK = SubscriptionBook(MAPPED, "free", RETENTION)


@pytest.fixture
def pool(migrated_pool: asyncpg.Pool) -> asyncpg.Pool:
    return migrated_pool


async def deliver(
    pool: asyncpg.Pool, action: str, at: datetime, bought: dict[str, Any], book: SubscriptionBook = BOOK
) -> Outcome:
    body = payload(action, at, bought)
    delivery = StoredDelivery(
        id=1,
        endpoint="marketplace",
        hook_id="77",
        guid=str(uuid.uuid4()),
        event="marketplace_purchase",
        action=action,
        payload=body,
        status="received",
        attempt=1,
    )
    async with pool.acquire() as conn, conn.transaction():
        return await book.on_purchase(conn, delivery)


async def account_of(pool: asyncpg.Pool) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT id::text AS id, status FROM super_agent.accounts WHERE github_id = $1", ORG["id"]
    )
    return row


async def purge_now(pool: asyncpg.Pool, account_id: str) -> str:
    """Start the account's purge as request_due_purges does (its teams, one request)."""
    request_id = f"account:{account_id}:test"
    await pool.execute(
        "INSERT INTO super_agent.purge_requests (request_id, account_id, team_ids, reason) "
        "SELECT $1, $2::uuid, array_agg(id), 'account cancelled' FROM super_agent.teams "
        "WHERE account_id = $2::uuid",
        request_id,
        account_id,
    )
    return request_id


async def default_team(pool: asyncpg.Pool, account_id: str) -> str:
    team: str = await pool.fetchval(
        "SELECT id::text FROM super_agent.teams WHERE account_id = $1::uuid AND is_default "
        "AND deleted_at IS NULL",
        account_id,
    )
    return team


async def key_works(pool: asyncpg.Pool, team_id: str) -> bool:
    async with pool.acquire() as conn:
        _, token = await apikeys.create(
            conn, team_id=team_id, name="ci", permissions=[Permission.USAGE_READ], created_by=None
        )
        return await apikeys.verify(conn, token) is not None


async def test_a_purchase_after_the_purge_leaves_a_working_account(pool: asyncpg.Pool) -> None:
    """Bought, cancelled, purged, bought again: the account is active with a new default team (its
    buyer, signed in before, is owner) and keys made for that team work."""
    now = datetime.now(UTC)
    buyer = await pool.fetchval(
        "INSERT INTO super_agent.users (github_id, login) VALUES ($1, $2) RETURNING id::text",
        SENDER["id"],
        SENDER["login"],
    )
    await deliver(pool, "purchased", now - timedelta(days=3), purchase(TEAM, account=ORG))
    await deliver(pool, "cancelled", now - timedelta(days=2), purchase(TEAM, account=ORG))
    account = await account_of(pool)
    assert account is not None
    assert account["status"] == "deactivated"
    old_team = await default_team(pool, account["id"])
    await lifecycle.complete_purge(pool, await purge_now(pool, account["id"]))
    assert (await account_of(pool) or {})["status"] == "purged"

    outcome = await deliver(pool, "purchased", now - timedelta(minutes=1), purchase(TEAM, account=ORG))

    assert outcome.status == "processed", outcome
    account = await account_of(pool)
    assert account is not None
    assert account["status"] == "active"
    team = await default_team(pool, account["id"])
    assert team is not None
    assert team != old_team
    assert await key_works(pool, team)
    owner = await pool.fetchval(
        "SELECT user_id::text FROM super_agent.team_members WHERE team_id = $1::uuid AND role = 'owner'", team
    )
    assert owner == buyer
    assert (
        await pool.fetchval(
            "SELECT status FROM super_agent.subscriptions WHERE account_github_id = $1", ORG["id"]
        )
        == "active"
    )


async def test_a_purchase_during_the_purge_survives_its_completion(pool: asyncpg.Pool) -> None:
    """Bought again while the purge of the deactivated account runs: when the purge completes the
    account stays active (not purged), keeps its installations and has a default team whose keys work."""
    now = datetime.now(UTC)
    await deliver(pool, "purchased", now - timedelta(days=3), purchase(TEAM, account=ORG))
    await deliver(pool, "cancelled", now - timedelta(days=2), purchase(TEAM, account=ORG))
    account = await account_of(pool)
    assert account is not None
    await pool.execute(
        "INSERT INTO super_agent.installations (github_id, account_id, target_type) "
        "VALUES (77, $1::uuid, 'Organization')",
        account["id"],
    )
    request = await purge_now(pool, account["id"])
    await deliver(pool, "purchased", now - timedelta(minutes=1), purchase(TEAM, account=ORG))
    await lifecycle.complete_purge(pool, request)

    assert (await account_of(pool) or {})["status"] == "active"
    assert await pool.fetchval("SELECT count(*) FROM super_agent.installations") == 1
    assert await key_works(pool, await default_team(pool, account["id"]))


async def test_a_cancellation_for_an_unknown_account_makes_no_account(pool: asyncpg.Pool) -> None:
    """`cancelled` for a GitHub account never seen is recorded (history, cancelled record) without an
    account, team or purge; a later purchase then creates the account, active."""
    now = datetime.now(UTC)
    outcome = await deliver(pool, "cancelled", now - timedelta(days=1), purchase(TEAM, account=ORG))
    assert outcome.status == "processed"
    assert "no account was made" in outcome.description
    for table in ("accounts", "teams"):
        assert await pool.fetchval(f"SELECT count(*) FROM super_agent.{table}") == 0, table
    record = await pool.fetchrow(
        "SELECT status, account_id FROM super_agent.subscriptions WHERE account_github_id = $1", ORG["id"]
    )
    assert (record["status"], record["account_id"]) == ("cancelled", None)
    assert await pool.fetchval("SELECT count(*) FROM super_agent.subscription_history") == 1

    await deliver(pool, "purchased", now - timedelta(minutes=1), purchase(TEAM, account=ORG))
    account = await account_of(pool)
    assert account is not None
    assert account["status"] == "active"
    assert (
        await pool.fetchval(
            "SELECT account_id::text FROM super_agent.subscriptions WHERE account_github_id = $1", ORG["id"]
        )
        == account["id"]
    )


def unmapped_events(plan_id: int) -> float:
    value = REGISTRY.get_sample_value("mno_marketplace_unmapped_plan_events_total", {"plan_id": str(plan_id)})
    return value or 0.0


async def test_a_paid_plan_without_mapping_is_reported_everywhere(pool: asyncpg.Pool) -> None:
    """A purchase of a paid plan the mapping lacks lands on the default plan, and says so: in the
    delivery's outcome, a warning naming the plan, the metric, and unmapped_plan_ids."""
    before = unmapped_events(ENTERPRISE["id"])
    with capture_logs() as logs:
        outcome = await deliver(pool, "purchased", datetime.now(UTC), purchase(ENTERPRISE, account=ORG))
    assert outcome.status == "processed"
    assert f"plan {ENTERPRISE['id']}" in outcome.description
    assert "accounts.marketplace_plans" in outcome.description
    assert any(
        entry["log_level"] == "warning" and entry.get("plan_id") == ENTERPRISE["id"] for entry in logs
    ), logs
    assert unmapped_events(ENTERPRISE["id"]) == before + 1
    assert await pool.fetchval("SELECT plan_key FROM super_agent.subscriptions") == "free"
    async with pool.acquire() as conn:
        assert await unmapped_plan_ids(conn, dict(MAPPED.items())) == [
            UnmappedPlan(ENTERPRISE["id"], ENTERPRISE["name"], PriceModel.FLAT_RATE)
        ]
    mapped = await deliver(pool, "purchased", datetime.now(UTC), purchase(TEAM, account={**ORG, "id": 5}))
    assert "marketplace_plans" not in mapped.description


async def test_remap_moves_existing_subscribers_when_the_mapping_changes(pool: asyncpg.Pool) -> None:
    """Records written under an old mapping take the new one's plan key on remap (with a history
    line each), and the plan is no longer listed as unmapped; a second remap changes nothing."""
    await deliver(pool, "purchased", datetime.now(UTC), purchase(ENTERPRISE, account=ORG))
    assert await pool.fetchval("SELECT plan_key FROM super_agent.subscriptions") == "free"
    new_mapping = {**MAPPED, str(ENTERPRISE["id"]): "team"}
    book = SubscriptionBook(new_mapping, "free", RETENTION)

    report = await book.remap(pool)

    assert report.remapped == [f"{ORG['login']}: free -> team"]
    assert report.unmapped == []
    assert await pool.fetchval("SELECT plan_key FROM super_agent.subscriptions") == "team"
    assert (
        await pool.fetchval("SELECT count(*) FROM super_agent.subscription_history WHERE action = 'remap'")
        == 1
    )
    assert (await book.remap(pool)).remapped == []


async def test_seats_bought_on_a_per_unit_plan_are_the_seat_limit(pool: asyncpg.Pool) -> None:
    """10 seats bought allow 10 members, 1 seat allows 1 (the configured plan says 1 either way);
    a change of seat count moves the limit."""
    plans = PlanBook({"free": ONE_SEAT, "team": ONE_SEAT}, "free")
    now = datetime.now(UTC)
    await deliver(pool, "purchased", now - timedelta(hours=1), purchase(BASIC, account=ORG, unit_count=10))
    account = await account_of(pool)
    assert account is not None
    async with pool.acquire() as conn:
        key, entitlements = await plans.plan_of_account(conn, account["id"])
        assert (key, entitlements.seats) == ("team", 10)
        team = await default_team(pool, account["id"])
        for n in range(10):
            user = await conn.fetchval(
                "INSERT INTO super_agent.users (github_id, login) VALUES ($1, $2) RETURNING id::text",
                1000 + n,
                f"u{n}",
            )
            await plans.require_seat(conn, account["id"], user)
            await conn.execute(
                "INSERT INTO super_agent.team_members (team_id, user_id, role) "
                "VALUES ($1::uuid, $2::uuid, 'member')",
                team,
                user,
            )
        eleventh = await conn.fetchval(
            "INSERT INTO super_agent.users (github_id, login) VALUES (2000, 'u11') RETURNING id::text"
        )
        with pytest.raises(AgentError):
            await plans.require_seat(conn, account["id"], eleventh)
    await deliver(
        pool,
        "changed",
        now,
        purchase(BASIC, account=ORG, unit_count=1),
    )
    async with pool.acquire() as conn:
        _, entitlements = await plans.plan_of_account(conn, account["id"])
        assert entitlements.seats == 1


async def test_a_customer_who_returns_and_leaves_again_is_purged_again(
    pool: asyncpg.Pool, isolated_nats: Any
) -> None:
    """Bought, cancelled, purged, bought again, cancelled again: the second deactivation gets its
    own purge of the new team (one purge per deactivation), not the finished first one."""
    now = datetime.now(UTC)
    later = now + RETENTION + timedelta(days=1)
    nc = await nats.connect(isolated_nats.url)
    try:
        await ensure_streams(nc.jetstream(), JetStreamSettings())
        bus = Bus(nc, source="test", request_timeout=2)
        await deliver(pool, "purchased", now - timedelta(days=4), purchase(TEAM, account=ORG))
        await deliver(pool, "cancelled", now - timedelta(days=3), purchase(TEAM, account=ORG))
        await lifecycle.request_due_purges(pool, bus, now=later)
        first = await pool.fetchval("SELECT request_id FROM super_agent.purge_requests")
        await lifecycle.complete_purge(pool, first)
        await deliver(pool, "purchased", now - timedelta(days=2), purchase(TEAM, account=ORG))
        account = await account_of(pool)
        assert account is not None
        new_team = await default_team(pool, account["id"])
        await deliver(pool, "cancelled", now - timedelta(days=1), purchase(TEAM, account=ORG))

        await lifecycle.request_due_purges(pool, bus, now=later)
    finally:
        await nc.close()

    second = await pool.fetch(
        "SELECT team_ids::text[] AS team_ids FROM super_agent.purge_requests "
        "WHERE request_id <> $1 AND completed_at IS NULL",
        first,
    )
    assert [row["team_ids"] for row in second] == [[new_team]]
