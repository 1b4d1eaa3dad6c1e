"""The price supplement where prices are used: ingest and budget admission (real edge and MonitoringAgent),
and re-pricing of calls stored before it.

Claude Sonnet 4 above 200k input tokens: 250,000 input x $6 + 2,000 output x $22.50 per MTok = $1.545
(genai-prices 0.2.3 alone: 250,000 x $3 + 2,000 x $15 = $0.78).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from services.identity.bootstrap import ensure_local_admin
from services.pricing.genai import GenaiPricesSource
from services.pricing.maintained import maintained_price_source
from services.token_costs import overrides_store
from services.token_costs.price_book import PriceBook
from services.token_costs.reprice import Repricer
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.db.clickhouse import ClickHouse
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.prices import RepriceRequest
from shared.messages.telemetry import CostQuery, TokenEvent, TokenEventColumns
from tests.fixtures.edge import call
from tests.fixtures.mesh import MeshLauncher
from tests.ingest.test_token_events_e2e import costs_when, event

LONG_CALL = Decimal("1.545")


@pytest.fixture
async def token(launcher: MeshLauncher) -> AsyncIterator[str]:
    """The local owner's API key, with an edge and a MonitoringAgent running."""
    launcher.start(AgentName.SUPER_AGENT)
    launcher.start(AgentName.MONITORING)
    pool: asyncpg.Pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield await ensure_local_admin(pool)
    finally:
        await pool.close()


def long_sonnet_4_call(event_id: str) -> dict[str, object]:
    return event(
        event_id,
        provider="anthropic",
        model="claude-sonnet-4-20250514",
        input_tokens=250_000,
        output_tokens=2_000,
    )


async def test_long_sonnet_4_calls_are_stored_and_admitted_at_long_context_rates(
    launcher: MeshLauncher, token: str
) -> None:
    """Ingest stores the supplement's price, and a hard budget counts the same price at admission."""
    status, result = await call(
        launcher, "POST", "/api/v1/token-events", token, {"events": [long_sonnet_4_call("l1")]}
    )
    assert (status, result["accepted"]) == (200, 1), result
    report = await costs_when(launcher, token, 1)
    assert Decimal(report["totals"]["cost_usd"]) == LONG_CALL

    # Room for one more call at genai-prices' half price ($0.78), not at the real $1.545.
    status, budget = await call(
        launcher, "POST", "/api/v1/budgets", token, {"name": "cap", "amount_usd": "2.5", "hard_limit": True}
    )
    assert status == 201, budget
    assert Decimal(budget["spent_usd"]) == LONG_CALL
    status, refused = await call(
        launcher, "POST", "/api/v1/token-events", token, {"events": [long_sonnet_4_call("l2")]}
    )
    assert status == 429, refused
    assert refused["error"]["details"][0]["budget_id"] == budget["id"]


async def test_repricing_brings_calls_priced_before_the_supplement_to_long_context_rates(
    analytics: ClickHouse, migrated_pool: asyncpg.Pool
) -> None:
    """A long Sonnet 4 call stored at genai-prices' half price is re-priced to the supplement's price."""
    store = TokenCostStore(analytics)
    team = str(uuid.uuid4())
    at = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
    stored = TokenEvent.model_validate(
        {
            "id": "old",
            "timestamp": at,
            "provider": "anthropic",
            "model": "claude-sonnet-4-20250514",
            "input_tokens": 250_000,
            "output_tokens": 2_000,
        }
    )
    # as the MonitoringAgent priced it before the supplement existed
    await TokenEventWriter(store).write(
        price_events(GenaiPricesSource(), team, "key1", at, TokenEventColumns.of([stored]))
    )
    book = PriceBook(overrides_store.loader(migrated_pool), maintained_price_source())
    result = await Repricer(analytics, migrated_pool, book).run(
        team, RepriceRequest(since=at - timedelta(hours=1), until=at + timedelta(hours=1)), "user-1"
    )
    assert (result.events_repriced, result.before_total_usd, result.after_total_usd) == (
        1,
        Decimal("0.78"),
        LONG_CALL,
    )
    report = await store.report(
        team, CostQuery.model_validate({"since": at - timedelta(hours=1), "until": at + timedelta(hours=1)})
    )
    assert report.totals.cost_usd == LONG_CALL
