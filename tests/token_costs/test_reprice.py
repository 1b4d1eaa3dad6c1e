"""Re-pricing stored events: new revisions for changed prices only, rollups corrected so that both report
paths (hourly rollups and raw events) give the new totals exactly, runs recorded, a second run a no-op."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.pricing.genai import GenaiPricesSource
from services.pricing.models import Usage
from services.pricing.overrides import PriceOverride
from services.token_costs import overrides_store
from services.token_costs.price_book import PriceBook
from services.token_costs.reprice import RepriceBusy, Repricer
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.db.clickhouse import ClickHouse
from shared.db.locks import try_advisory_lock
from shared.messages.prices import RepriceRequest, RepriceResult
from shared.messages.telemetry import CostQuery, CostReport, TokenEvent, TokenEventColumns

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BASE = GenaiPricesSource()
CALL = Usage(input_tokens=1_000, output_tokens=100)  # gpt-4o: $0.0035


class Fixture:
    """A team's events in ClickHouse, its overrides in PostgreSQL, and the re-pricer over both."""

    def __init__(self, clickhouse: ClickHouse, pool: asyncpg.Pool, chunk_size: int = 5_000) -> None:
        self.store = TokenCostStore(clickhouse)
        self.clickhouse = clickhouse
        self.pool = pool
        self.book = PriceBook(overrides_store.loader(pool), BASE)
        self.repricer = Repricer(clickhouse, pool, self.book, chunk_size=chunk_size)
        self.team = str(uuid.uuid4())

    async def ingest(self, *events: TokenEvent, team: str | None = None) -> None:
        """As the consumer does: priced with the team's current source, written once."""
        team_id = team or self.team
        source = await self.book.source_for(team_id)
        await TokenEventWriter(self.store).write(
            price_events(source, team_id, "key1", T0, TokenEventColumns.of(events))
        )

    async def override(self, **fields: Any) -> str:
        values: dict[str, Any] = {
            "provider": "openai",
            "model_pattern": "gpt-4o",
            "effective_from": T0 - timedelta(days=1),
        }
        values.update(fields)
        async with self.pool.acquire() as conn:
            row = await overrides_store.create(
                conn, self.team, PriceOverride.model_validate(values), "user-1"
            )
        self.book.invalidate(self.team)
        return str(row["id"])

    async def reprice(
        self, since: datetime = T0, until: datetime = T0 + timedelta(hours=2), **filters: str
    ) -> RepriceResult:
        return await self.repricer.run(
            self.team, RepriceRequest(since=since, until=until, **filters), "user-1"
        )

    async def both_paths(self, **fields: Any) -> tuple[CostReport, CostReport]:
        """A report from the rollups (an hour-aligned range), one from raw events (a range cutting hours)."""
        rollup = await self.store.report(
            self.team,
            CostQuery.model_validate(
                {"since": T0 - timedelta(hours=1), "until": T0 + timedelta(hours=5), **fields}
            ),
        )
        raw = await self.store.report(
            self.team,
            CostQuery.model_validate(
                {"since": T0 - timedelta(minutes=30), "until": T0 + timedelta(hours=5), **fields}
            ),
        )
        return rollup, raw

    async def revisions(self) -> list[tuple[str, int]]:
        rows = await self.clickhouse.query(
            "SELECT event_id, price_revision FROM token_events WHERE team_id = {team:String}"
            " ORDER BY event_id, price_revision",
            {"team": self.team},
        )
        return [(row["event_id"], row["price_revision"]) for row in rows]


def event(event_id: str, at: datetime = T0 + timedelta(minutes=5), **fields: Any) -> TokenEvent:
    values: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1_000,
        "output_tokens": 100,
    }
    values.update(fields)
    return TokenEvent.model_validate({"id": event_id, "timestamp": at, **values})


async def test_repricing_a_range_changes_exactly_its_events_and_both_report_paths(
    clickhouse: ClickHouse, migrated_pool: asyncpg.Pool
) -> None:
    """A 20% gpt-4o discount re-prices the two gpt-4o calls in range, not the one after it, the claude call
    or another team's; rollup and raw totals, per model and per tag, are the new exact amounts."""
    f = Fixture(clickhouse, migrated_pool)
    await f.ingest(
        event("a1", tags={"env": "prod"}),
        event("a2", at=T0 + timedelta(minutes=70), tags={"env": "dev"}),
        event("later", at=T0 + timedelta(hours=3)),
        event("claude", model="claude-3-5-sonnet-20241022", provider="anthropic", tags={"env": "prod"}),
    )
    other_team = str(uuid.uuid4())
    await f.ingest(event("a1"), team=other_team)
    claude = BASE.price("anthropic", "claude-3-5-sonnet-20241022", CALL, T0).total
    assert claude == Decimal("0.0045")  # $3 in / $15 out per MTok
    await f.override(discount_percent="20")

    result = await f.reprice()

    assert (result.events_scanned, result.events_repriced) == (3, 2)
    assert result.before_total_usd == Decimal("0.007") + claude
    assert result.after_total_usd == Decimal("0.0056") + claude
    assert await f.revisions() == [("a1", 1), ("a1", 2), ("a2", 1), ("a2", 2), ("claude", 1), ("later", 1)]
    expected = Decimal("0.0056") + claude + Decimal("0.0035")
    for report in await f.both_paths():
        assert report.totals.cost_usd == expected
        assert report.totals.events == 4
        assert report.totals.input_tokens == 4_000
    for report in await f.both_paths(group_by=["model"]):
        by_model = {group.key["model"]: group.totals.cost_usd for group in report.groups}
        assert by_model == {"gpt-4o": Decimal("0.0091"), "claude-3-5-sonnet": claude}
    for report in await f.both_paths(group_by=["tag:env"]):
        by_env = {group.key["tag:env"]: group.totals for group in report.groups}
        assert by_env["prod"].cost_usd == Decimal("0.0028") + claude
        assert (by_env["dev"].cost_usd, by_env["dev"].events) == (Decimal("0.0028"), 1)
    for report in await f.both_paths(bucket="hour"):
        assert [point.cost_usd for point in report.groups[0].series] == [
            Decimal("0.0028") + claude,
            Decimal("0.0028"),
            Decimal("0.0035"),
        ]
    other = await f.store.report(other_team, CostQuery(since=T0, until=T0 + timedelta(hours=2)))
    assert other.totals.cost_usd == Decimal("0.0035")


async def test_a_second_run_changes_nothing(clickhouse: ClickHouse, migrated_pool: asyncpg.Pool) -> None:
    """Run twice: the second finds every price current, writes no revision, and reports stay the same."""
    f = Fixture(clickhouse, migrated_pool)
    await f.ingest(event("a1"), event("a2"))
    await f.override(discount_percent="20")
    first = await f.reprice()
    revisions = await f.revisions()
    second = await f.reprice()
    assert (first.events_repriced, second.events_repriced, second.events_scanned) == (2, 0, 2)
    assert second.before_total_usd == second.after_total_usd == Decimal("0.0056")
    assert await f.revisions() == revisions
    for report in await f.both_paths():
        assert report.totals.cost_usd == Decimal("0.0056")


async def test_an_unpriced_custom_model_gains_its_price_in_both_paths(
    clickhouse: ClickHouse, migrated_pool: asyncpg.Pool
) -> None:
    """Events of a model genai-prices does not know, stored unpriced, are priced once an override exists:
    the unpriced count drops to zero on the rollups too."""
    f = Fixture(clickhouse, migrated_pool)
    custom: dict[str, Any] = {
        "provider": "acme",
        "model": "acme-1",
        "input_tokens": 10_000,
        "output_tokens": 2_000,
    }
    await f.ingest(event("c1", **custom), event("c2", **custom))
    for report in await f.both_paths():
        assert (report.totals.cost_usd, report.totals.unpriced_events) == (Decimal(0), 2)
    override_id = await f.override(
        provider="acme", model_pattern="acme-*", input_per_mtok="0.40", output_per_mtok="1.60"
    )
    result = await f.reprice()
    assert (result.before_total_usd, result.after_total_usd) == (Decimal(0), Decimal("0.0144"))
    for report in await f.both_paths():
        assert (report.totals.cost_usd, report.totals.unpriced_events, report.totals.events) == (
            Decimal("0.0144"),
            0,
            2,
        )
    stored = await clickhouse.query(
        "SELECT price_version, priced FROM token_events FINAL WHERE team_id = {team:String}", {"team": f.team}
    )
    assert stored == [{"price_version": f"override:{override_id}", "priced": True}] * 2


async def test_deleting_the_override_and_repricing_restores_the_base_prices(
    clickhouse: ClickHouse, migrated_pool: asyncpg.Pool
) -> None:
    """Discount, re-price, delete, re-price: revision 3 at genai-prices' price, totals as at the start."""
    f = Fixture(clickhouse, migrated_pool)
    await f.ingest(event("a1"), event("a2", at=T0 + timedelta(minutes=59, seconds=59, milliseconds=999)))
    override_id = await f.override(discount_percent="50")
    await f.reprice()
    async with migrated_pool.acquire() as conn:
        await overrides_store.delete(conn, f.team, override_id, "user-1")
    f.book.invalidate(f.team)
    result = await f.reprice()
    assert (result.before_total_usd, result.after_total_usd) == (Decimal("0.0035"), Decimal("0.007"))
    assert await f.revisions() == [("a1", 1), ("a1", 2), ("a1", 3), ("a2", 1), ("a2", 2), ("a2", 3)]
    for report in await f.both_paths(bucket="hour"):
        assert report.totals.cost_usd == Decimal("0.007")
        assert [point.cost_usd for point in report.groups[0].series] == [Decimal("0.007")]


async def test_filters_and_small_chunks(clickhouse: ClickHouse, migrated_pool: asyncpg.Pool) -> None:
    """A model filter leaves other models alone; chunks of two walk events sharing a timestamp completely."""
    f = Fixture(clickhouse, migrated_pool, chunk_size=2)
    await f.ingest(*(event(f"e{i}") for i in range(5)), event("mini", model="gpt-4o-mini"))
    await f.override(model_pattern="gpt-4o*", discount_percent="10")
    result = await f.reprice(model="gpt-4o")
    assert (result.events_scanned, result.events_repriced) == (5, 5)
    assert result.after_total_usd == Decimal("0.01575")
    assert ("mini", 2) not in await f.revisions()
    result = await f.reprice(provider="anthropic")
    assert (result.events_scanned, result.events_repriced) == (0, 0)


async def test_a_run_is_recorded_and_one_runs_per_team_at_a_time(
    clickhouse: ClickHouse, migrated_pool: asyncpg.Pool
) -> None:
    """The run's row says who, the range and the totals; while a run holds the team's lock, another is
    refused."""
    f = Fixture(clickhouse, migrated_pool)
    await f.ingest(event("a1"))
    await f.override(discount_percent="20")
    result = await f.reprice(model="gpt-4o")
    row = await migrated_pool.fetchrow(
        "SELECT team_id::text, requested_by, status, since, until, model, events_scanned, events_repriced,"
        " before_total_usd, after_total_usd FROM monitoring.reprice_runs WHERE id = $1::uuid",
        result.run_id,
    )
    assert dict(row) == {
        "team_id": f.team,
        "requested_by": "user-1",
        "status": "done",
        "since": T0,
        "until": T0 + timedelta(hours=2),
        "model": "gpt-4o",
        "events_scanned": 1,
        "events_repriced": 1,
        "before_total_usd": Decimal("0.0035"),
        "after_total_usd": Decimal("0.0028"),
    }
    async with try_advisory_lock(migrated_pool, f"mno.monitoring.reprice:{f.team}") as held:
        assert held
        with pytest.raises(RepriceBusy):
            await f.reprice()
    async with migrated_pool.acquire() as conn:
        assert await overrides_store.purge_teams(conn, [f.team]) == 2
