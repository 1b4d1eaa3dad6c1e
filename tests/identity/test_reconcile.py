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
from tests.marketplace.factories import ENTERPRISE, FREE, TEAM, purchase

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
