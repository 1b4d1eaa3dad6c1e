"""Costs group by the model as the price source names it; the reported name stays queryable.

`gpt-4o-mini` and its dated snapshot `gpt-4o-mini-2024-07-18` are one model to genai-prices (and to
whoever pays for them): `group_by=model` shows one row for them on every read path (daily rollup,
hourly rollup, raw events), `group_by=model_raw` and the `model_raw` filter keep the names apart.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.db.clickhouse import ChdbClickHouse, ClickHouse
from shared.db.clickhouse.migrations import DEFAULT_MIGRATIONS_DIRECTORY, apply_migrations
from shared.messages.telemetry import CostQuery, CostReport, TokenEvent, TokenEventColumns

DAY = datetime(2026, 3, 2, tzinfo=UTC)
PRICES = GenaiPricesSource()
TEAM = "team-models"
DATED = "gpt-4o-mini-2024-07-18"

# Day-aligned (daily rollup), hour-aligned (hourly rollup) and unaligned (raw events) ranges.
RANGES = (
    (DAY, DAY + timedelta(days=1)),
    (DAY + timedelta(hours=1), DAY + timedelta(hours=23)),
    (DAY + timedelta(minutes=1), DAY + timedelta(hours=23)),
)


def event(event_id: str, model: str, *, hour: int = 10, provider: str = "openai") -> TokenEvent:
    return TokenEvent.model_validate(
        {
            "id": event_id,
            "timestamp": DAY + timedelta(hours=hour),
            "provider": provider,
            "model": model,
            "input_tokens": 1_000_000,
        }
    )


async def store_events(clickhouse: ClickHouse, *events: TokenEvent) -> TokenCostStore:
    store = TokenCostStore(clickhouse)
    await TokenEventWriter(store).write(price_events(PRICES, TEAM, None, DAY, TokenEventColumns.of(events)))
    return store


async def reports(store: TokenCostStore, **fields: object) -> list[CostReport]:
    return [
        await store.report(TEAM, CostQuery.model_validate({"since": since, "until": until, **fields}))
        for since, until in RANGES
    ]


def by_key(report: CostReport, dimension: str) -> dict[str, tuple[int, Decimal]]:
    return {g.key[dimension]: (g.totals.events, g.totals.cost_usd) for g in report.groups}


async def test_dated_snapshots_group_under_the_model_the_price_source_matched(clickhouse: ClickHouse) -> None:
    """group_by=model merges gpt-4o-mini and gpt-4o-mini-2024-07-18 on the daily, hourly and raw paths."""
    store = await store_events(
        clickhouse,
        event("a", "gpt-4o-mini"),
        event("b", DATED),
        event("c", DATED, hour=12),
        event("d", "gpt-4o"),
    )
    # gpt-4o-mini: $0.15 per MTok of input; gpt-4o: $2.50.
    for report in await reports(store, group_by="model"):
        assert by_key(report, "model") == {"gpt-4o-mini": (3, Decimal("0.45")), "gpt-4o": (1, Decimal("2.5"))}
    for report in await reports(store, group_by="model", bucket="hour"):
        mini = next(g for g in report.groups if g.key == {"model": "gpt-4o-mini"})
        assert [(p.bucket_start.hour, p.events) for p in mini.series] == [(10, 2), (12, 1)]


async def test_the_reported_name_stays_queryable_by_group_and_filter(clickhouse: ClickHouse) -> None:
    """group_by=model_raw keeps the names apart; model_raw= filters by it; model= by the canonical name."""
    store = await store_events(clickhouse, event("a", "gpt-4o-mini"), event("b", DATED), event("c", DATED))
    for report in await reports(store, group_by="model,model_raw"):
        assert {(g.key["model"], g.key["model_raw"]): g.totals.events for g in report.groups} == {
            ("gpt-4o-mini", "gpt-4o-mini"): 1,
            ("gpt-4o-mini", DATED): 2,
        }
    for report in await reports(store, model_raw=DATED):
        assert report.totals.events == 2
    for report in await reports(store, model="gpt-4o-mini"):
        assert report.totals.events == 3
    for report in await reports(store, model=DATED):
        assert report.totals.events == 0


async def test_a_model_without_a_price_keeps_its_name_in_both(clickhouse: ClickHouse) -> None:
    """An unpriced model is grouped under the name it was reported with."""
    store = await store_events(clickhouse, event("x", "acme-large-7", provider="acme"))
    for report in await reports(store, group_by="model,model_raw"):
        assert [g.key for g in report.groups] == [{"model": "acme-large-7", "model_raw": "acme-large-7"}]
        assert report.totals.unpriced_events == 1


async def test_events_stored_before_the_upgrade_read_their_reported_name_in_both(tmp_path: Path) -> None:
    """Rows written under migrations 0001-0003 report their stored name as model and as model_raw."""
    before = tmp_path / "before"
    before.mkdir()
    for migration in sorted(DEFAULT_MIGRATIONS_DIRECTORY.glob("000[123]_*.sql")):
        shutil.copy(migration, before / migration.name)
    engine = ChdbClickHouse(tmp_path / "chdb")
    try:
        await apply_migrations(engine, before)
        old_columns = (
            "team_id", "event_id", "timestamp", "received_at", "provider", "model", "input_tokens",
            "priced", "cost_usd",
        )  # fmt: skip
        at = DAY + timedelta(hours=10)
        await engine.insert(
            "token_events",
            old_columns,
            [(TEAM, "old", at, at, "openai", DATED, 1_000_000, True, Decimal("0.15"))],
        )
        assert (await apply_migrations(engine))[:2] == [4, 5]  # and any later migration
        store = await store_events(engine, event("new", DATED))
        for report in await reports(store, group_by="model_raw"):
            assert by_key(report, "model_raw") == {DATED: (2, Decimal("0.30"))}
        for report in await reports(store, model_raw=DATED):
            assert report.totals.events == 2
        stored = await engine.query(
            "SELECT event_id, model, model_raw FROM token_events FINAL ORDER BY event_id"
        )
        assert stored == [
            {"event_id": "new", "model": "gpt-4o-mini", "model_raw": DATED},
            {"event_id": "old", "model": DATED, "model_raw": DATED},
        ]
    finally:
        await engine.close()
