"""1-hour cache writes from the bus message to every cost answer: stored, summed, priced at their rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.pricing.genai import GenaiPricesSource
from services.token_costs.repricing import pricing_of
from services.token_costs.rows import COLUMNS, PRICE_COLUMNS, price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.db.clickhouse import ClickHouse
from shared.messages.telemetry import CostQuery, TokenEvent, TokenEventColumns, TokenEventsAccepted

DAY = datetime(2026, 3, 2, tzinfo=UTC)
PRICES = GenaiPricesSource()
TEAM = "team-cache"


def event(event_id: str, **fields: Any) -> TokenEvent:
    values: dict[str, Any] = {
        "id": event_id,
        "timestamp": DAY + timedelta(hours=10),
        "provider": "anthropic",
        "model": "claude-sonnet-4-20250514",
        "tags": {"env": "prod"},
    }
    return TokenEvent.model_validate(values | fields)


async def test_one_hour_writes_are_summed_and_priced_on_every_report_path(clickhouse: ClickHouse) -> None:
    """Daily, hourly, tag and raw reports sum cache_write_1h_tokens and charge them $6/MTok (sonnet 4)."""
    store = TokenCostStore(clickhouse)
    events = [event("a", cache_write_1h_tokens=1_000_000), event("b", cache_write_tokens=1_000_000)]
    await TokenEventWriter(store).write(price_events(PRICES, TEAM, None, DAY, TokenEventColumns.of(events)))
    ranges = (
        (DAY, DAY + timedelta(days=1)),
        (DAY + timedelta(hours=1), DAY + timedelta(hours=23)),
        (DAY + timedelta(minutes=1), DAY + timedelta(hours=23)),
    )
    for since, until in ranges:
        for extra in ({}, {"group_by": "tag:env"}):
            report = await store.report(
                TEAM, CostQuery.model_validate({"since": since, "until": until, **extra})
            )
            totals = report.groups[0].totals if extra else report.totals
            assert (totals.cache_write_tokens, totals.cache_write_1h_tokens) == (1_000_000, 1_000_000)
            # 1M 1-hour writes at $6 + 1M 5-minute writes at $3.75 (the 5-minute rate alone before).
            assert totals.cost_usd == Decimal("9.75")


def test_columns_published_before_the_token_kind_still_decode() -> None:
    """A bus message whose columns lack cache_write_1h_tokens (an older edge) decodes with zeros."""
    columns = TokenEventColumns.of([event("a"), event("b")]).model_dump(mode="json")
    del columns["cache_write_1h_tokens"]
    message = TokenEventsAccepted.model_validate({"received_at": DAY.isoformat(), "events": columns})
    assert message.events.cache_write_1h_tokens == [0, 0]


def test_re_pricing_prices_one_hour_writes_as_ingest_does() -> None:
    """A stored row re-priced gives the price columns ingest gave it, 1-hour writes included."""
    batch = price_events(
        PRICES,
        TEAM,
        None,
        DAY,
        TokenEventColumns.of([event("a", cache_write_1h_tokens=500, model="claude-3-5-sonnet-20241022")]),
    )
    stored = {name: batch.columns[name][0] for name in COLUMNS}
    assert pricing_of(PRICES, stored) == tuple(stored[name] for name in PRICE_COLUMNS)
    assert stored["cost_usd"] == Decimal(500) * Decimal(6) / 1_000_000
