"""Marketplace reconciliation against the stand-in GitHub: drift found and repaired, then none."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from services.github import AppJWTSigner, GitHubClient, InMemoryTokenStore, SecretBox, generate_key
from services.identity.reconcile import reconcile_marketplace, synthetic_event
from services.identity.subscriptions import SubscriptionBook
from tests.fixtures.fake_github import FakeGitHub
from tests.marketplace.factories import BASIC, ENTERPRISE, FREE, TEAM, purchase

BOOK = SubscriptionBook({str(TEAM["id"]): "team", str(FREE["id"]): "free"}, "free", timedelta(days=30))


@pytest.fixture
def pool(migrated_pool: asyncpg.Pool) -> asyncpg.Pool:
    return migrated_pool


@pytest.fixture
async def github(fake_github: FakeGitHub) -> AsyncIterator[GitHubClient]:
    async with aiohttp.ClientSession() as session:
        yield GitHubClient(
            session,
            AppJWTSigner.from_pem(fake_github.client_id, [fake_github.private_key_pem]),
            secret_box=SecretBox.from_base64({"k": generate_key()}, primary="k"),
            token_store=InMemoryTokenStore(),
            api_url=fake_github.url,
        )


def seed_plans(fake: FakeGitHub) -> None:
    for plan in (FREE, TEAM, ENTERPRISE):
        fake.add_plan(
            plan["name"],
            plan_id=plan["id"],
            monthly_price_in_cents=plan["monthly_price_in_cents"],
            price_model=plan["price_model"],
        )


async def record(pool: asyncpg.Pool, action: str, plan: dict, login: str, account_id: int) -> None:  # type: ignore[type-arg]
    account = {"type": "Organization", "id": account_id, "login": login}
    event = synthetic_event(action, purchase(plan, account=account), datetime.now(UTC) - timedelta(hours=1))
    async with pool.acquire() as conn, conn.transaction():
        await BOOK.apply_event(conn, event, delivery_id=str(uuid.uuid4()))


async def status_of(pool: asyncpg.Pool, account_id: int) -> tuple[str, str] | None:
    row = await pool.fetchrow(
        "SELECT status, plan_key FROM super_agent.subscriptions WHERE account_github_id = $1", account_id
    )
    return (row["status"], row["plan_key"]) if row else None


async def test_drift_is_repaired_and_a_second_run_finds_none(
    pool: asyncpg.Pool, github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """A purchase we missed is added, a plan we have wrong is changed, an account GitHub no longer
    lists is cancelled (and deactivated); the next run repairs nothing."""
    seed_plans(fake_github)
    fake_github.add_marketplace_account("missed-org", TEAM["id"], account_id=101, type="Organization")
    fake_github.add_marketplace_account("changed-org", TEAM["id"], account_id=102, type="Organization")
    await record(pool, "purchased", FREE, "changed-org", 102)
    await record(pool, "purchased", TEAM, "gone-org", 103)

    report = await reconcile_marketplace(pool, github, BOOK)

    assert report.accounts_on_github == 2
    assert len(report.repaired) == 3
    assert await status_of(pool, 101) == ("active", "team")
    assert await status_of(pool, 102) == ("active", "team")
    assert (await status_of(pool, 103) or ("", ""))[0] == "cancelled"
    assert (
        await pool.fetchval("SELECT status FROM super_agent.accounts WHERE github_id = 103") == "deactivated"
    )
    reasons = await pool.fetch(
        "SELECT delivery_id FROM super_agent.subscription_history WHERE delivery_id LIKE 'reconcile:%'"
    )
    assert len(reasons) == 3

    again = await reconcile_marketplace(pool, github, BOOK)
    assert again.repaired == []


async def test_a_missed_seat_change_is_repaired_and_existing_records_are_remapped(
    pool: asyncpg.Pool, github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """GitHub lists 10 seats of a per-seat plan where we recorded 1 (a missed `changed`): the run
    repairs the seats; a record on a paid plan mapped only since it was written gets the new plan key."""
    seed_plans(fake_github)
    fake_github.add_plan(
        BASIC["name"],
        plan_id=BASIC["id"],
        monthly_price_in_cents=BASIC["monthly_price_in_cents"],
        price_model="PER_UNIT",
        unit_name="seat",
    )
    fake_github.add_marketplace_account("seats-org", BASIC["id"], account_id=201, unit_count=10)
    fake_github.add_marketplace_account("team-org", TEAM["id"], account_id=202)
    account = {"type": "Organization", "id": 201, "login": "seats-org"}
    event = synthetic_event(
        "purchased", purchase(BASIC, account=account, unit_count=1), datetime.now(UTC) - timedelta(hours=1)
    )
    async with pool.acquire() as conn, conn.transaction():
        await BOOK.apply_event(conn, event, delivery_id=str(uuid.uuid4()))
    await record(pool, "purchased", TEAM, "team-org", 202)
    await pool.execute("UPDATE super_agent.subscriptions SET plan_key = 'free' WHERE account_github_id = 202")

    report = await reconcile_marketplace(pool, github, BOOK)

    assert report.repaired == [f"seats-org: changed to plan {BASIC['id']} (missing or different here)"]
    seats = await pool.fetchval(
        "SELECT (state -> 'plan' ->> 'unit_count')::int FROM super_agent.subscriptions "
        "WHERE account_github_id = 201"
    )
    assert seats == 10
    assert report.remapped == ["team-org: free -> team"]
    again = await reconcile_marketplace(pool, github, BOOK)
    assert (again.repaired, again.remapped) == ([], [])
