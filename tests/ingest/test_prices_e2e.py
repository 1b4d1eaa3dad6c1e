"""Team price overrides and re-pricing through the real edge, NATS, the MonitoringAgent, ClickHouse and
PostgreSQL: exact costs before and after, both report paths, the audit trail, and team isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.edge import call
from tests.fixtures.mesh import MeshLauncher
from tests.ingest.test_token_events_e2e import NOW, costs_when, event, org_team_key

CUSTOM = {"provider": "acme", "model": "acme-1", "input_tokens": 10_000, "output_tokens": 2_000}
WHOLE_HOURS = {
    "since": (NOW - timedelta(hours=1)).isoformat(),
    "until": (NOW + timedelta(hours=2)).isoformat(),
}
CUTTING_AN_HOUR = {"since": (NOW - timedelta(minutes=30)).isoformat(), "until": WHOLE_HOURS["until"]}


@pytest.fixture
async def pool(launcher: MeshLauncher) -> AsyncIterator[asyncpg.Pool]:
    launcher.start(AgentName.SUPER_AGENT)
    launcher.start(AgentName.MONITORING)
    db = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield db
    finally:
        await db.close()


async def totals(launcher: MeshLauncher, token: str, range_: dict[str, str]) -> dict[str, Any]:
    status, report = await call(launcher, "GET", "/api/v1/costs", token, params=range_)
    assert status == 200, report
    return dict(report["totals"])


async def test_overrides_price_new_events_and_repricing_fixes_stored_ones(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """A gpt-4o discount applies to the next batch at once; re-pricing brings earlier gpt-4o events and an
    unpriced custom model to their new prices, exactly, on the rollup and raw paths; the run is audited."""
    admin = await ensure_local_admin(pool)
    await call(launcher, "POST", "/api/v1/token-events", admin, {"events": [event("p1"), event("p2")]})
    await call(launcher, "POST", "/api/v1/token-events", admin, {"events": [event("c1", **CUSTOM)]})
    assert (await costs_when(launcher, admin, 3))["totals"]["unpriced_events"] == 1

    discount = {
        "provider": "openai",
        "model_pattern": "gpt-4o",
        "effective_from": (NOW - timedelta(days=1)).isoformat(),
        "discount_percent": "20",
    }
    status, created = await call(launcher, "POST", "/api/v1/price-overrides", admin, discount)
    assert status == 201, created
    custom = {
        "provider": "acme",
        "model_pattern": "acme-*",
        "effective_from": (NOW - timedelta(days=1)).isoformat(),
        "input_per_mtok": "0.40",
        "output_per_mtok": "1.60",
    }
    status, created_custom = await call(launcher, "POST", "/api/v1/price-overrides", admin, custom)
    assert status == 201, created_custom
    assert Decimal(created_custom["input_per_mtok"]) == Decimal("0.40")

    await call(launcher, "POST", "/api/v1/token-events", admin, {"events": [event("p3")]})
    report = await costs_when(launcher, admin, 4)
    # $0.0035 twice at the old price, $0.0028 with the discount; acme-1 still unpriced.
    assert Decimal(report["totals"]["cost_usd"]) == Decimal("0.0098")

    status, result = await call(launcher, "POST", "/api/v1/costs/reprice", admin, WHOLE_HOURS)
    assert status == 200, result
    assert (result["events_scanned"], result["events_repriced"]) == (4, 3)
    assert Decimal(result["before_total_usd"]) == Decimal("0.0098")
    # 3 x $0.0028 + acme-1 (10,000 x $0.40 + 2,000 x $1.60 per MTok = $0.0072).
    assert Decimal(result["after_total_usd"]) == Decimal("0.0156")
    for range_ in (WHOLE_HOURS, CUTTING_AN_HOUR):
        figures = await totals(launcher, admin, range_)
        assert (Decimal(figures["cost_usd"]), figures["events"], figures["unpriced_events"]) == (
            Decimal("0.0156"),
            4,
            0,
        )

    status, again = await call(launcher, "POST", "/api/v1/costs/reprice", admin, WHOLE_HOURS)
    assert (status, again["events_repriced"]) == (200, 0)
    assert Decimal(again["before_total_usd"]) == Decimal(again["after_total_usd"]) == Decimal("0.0156")

    status, audit = await call(launcher, "GET", "/api/v1/audit", admin, params={"action": "prices"})
    assert status == 200, audit
    actions = [entry["action"] for entry in audit["entries"]]
    assert actions == [
        "prices.reprice",
        "prices.reprice",
        "prices.overrides.create",
        "prices.overrides.create",
    ]
    first_run = audit["entries"][1]
    assert first_run["resource_id"] == result["run_id"]
    assert Decimal(first_run["before"]["total_usd"]) == Decimal("0.0098")
    assert Decimal(first_run["after"]["total_usd"]) == Decimal("0.0156")
    assert first_run["after"]["events_repriced"] == 3
    assert first_run["actor"]["kind"] == "api_key"


async def test_a_team_never_sees_or_deletes_another_teams_overrides(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """Team B lists none of A's overrides and deleting A's is 404; A deletes its own (audited, kept)."""
    admin = await ensure_local_admin(pool)
    other = await org_team_key(pool, [Permission.COSTS_READ, Permission.PRICES_WRITE])
    body = {
        "provider": "openai",
        "model_pattern": "gpt-4o",
        "effective_from": NOW.isoformat(),
        "discount_percent": "10",
    }
    status, created = await call(launcher, "POST", "/api/v1/price-overrides", admin, body)
    assert status == 201, created
    status, listed = await call(launcher, "GET", "/api/v1/price-overrides", other)
    assert (status, listed) == (200, {"overrides": []})
    status, answer = await call(launcher, "DELETE", f"/api/v1/price-overrides/{created['id']}", other)
    assert (status, answer["error"]["code"]) == (404, "not_found")

    status, deleted = await call(launcher, "DELETE", f"/api/v1/price-overrides/{created['id']}", admin)
    assert status == 200, deleted
    assert deleted["deleted_at"] is not None
    status, answer = await call(launcher, "DELETE", f"/api/v1/price-overrides/{created['id']}", admin)
    assert status == 404
    status, listed = await call(launcher, "GET", "/api/v1/price-overrides", admin)
    assert listed == {"overrides": []}
    status, listed = await call(
        launcher, "GET", "/api/v1/price-overrides", admin, params={"include_deleted": "true"}
    )
    assert [item["id"] for item in listed["overrides"]] == [created["id"]]
    status, audit = await call(
        launcher, "GET", "/api/v1/audit", admin, params={"action": "prices.overrides.delete"}
    )
    assert [entry["resource_id"] for entry in audit["entries"]] == [created["id"]]


async def test_invalid_overrides_and_ranges_are_422(launcher: MeshLauncher, pool: asyncpg.Pool) -> None:
    """Prices and a discount together, an end before the start, a range over 400 days: typed 422s."""
    admin = await ensure_local_admin(pool)
    start = NOW.isoformat()
    for body in (
        {
            "provider": "openai",
            "model_pattern": "gpt-4o",
            "effective_from": start,
            "discount_percent": "5",
            "input_per_mtok": "1",
            "output_per_mtok": "2",
        },
        {
            "provider": "openai",
            "model_pattern": "gpt-4o",
            "effective_from": start,
            "discount_percent": "5",
            "effective_to": (NOW - timedelta(days=1)).isoformat(),
        },
        {
            "provider": "openai",
            "model_pattern": "gpt-4o",
            "effective_from": "2026-01-01T00:00:00",
            "discount_percent": "5",
        },
    ):
        status, answer = await call(launcher, "POST", "/api/v1/price-overrides", admin, body)
        assert (status, answer["error"]["code"]) == (422, "validation_failed"), body
    too_long = {"since": (NOW - timedelta(days=401)).isoformat(), "until": start}
    status, answer = await call(launcher, "POST", "/api/v1/costs/reprice", admin, too_long)
    assert (status, answer["error"]["code"]) == (422, "validation_failed")
    status, listed = await call(launcher, "GET", "/api/v1/price-overrides", admin)
    assert listed == {"overrides": []}


async def test_repricing_moves_the_budget_spend_it_changes(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """Events counted by a budget at admission and then re-priced at half price leave the budget with
    half the spend, so a discount frees budget room at once."""
    admin = await ensure_local_admin(pool)
    status, budget = await call(
        launcher, "POST", "/api/v1/budgets", admin, {"name": "month", "amount_usd": "1", "hard_limit": True}
    )
    assert status == 201, budget
    status, answer = await call(
        launcher, "POST", "/api/v1/token-events", admin, {"events": [event("b1"), event("b2")]}
    )
    assert (status, answer["accepted"]) == (200, 2), answer
    await costs_when(launcher, admin, 2)
    status, counted = await call(launcher, "GET", f"/api/v1/budgets/{budget['id']}", admin)
    assert Decimal(counted["spent_usd"]) == Decimal("0.0070"), counted

    half = {
        "provider": "openai",
        "model_pattern": "gpt-4o",
        "effective_from": (NOW - timedelta(days=1)).isoformat(),
        "discount_percent": "50",
    }
    status, created = await call(launcher, "POST", "/api/v1/price-overrides", admin, half)
    assert status == 201, created
    status, result = await call(launcher, "POST", "/api/v1/costs/reprice", admin, WHOLE_HOURS)
    assert (status, result["events_repriced"]) == (200, 2), result

    status, revised = await call(launcher, "GET", f"/api/v1/budgets/{budget['id']}", admin)
    assert status == 200, revised
    assert Decimal(revised["spent_usd"]) == Decimal("0.0035")
