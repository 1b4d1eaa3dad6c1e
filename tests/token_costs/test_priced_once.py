"""A budgeted team's events are priced once on the MonitoringAgent (issue 13 item 9): the price worked
out at budget admission is the one the token-events consumer stores, unless it could differ (another
source after an override changed, other inputs under the same id, a redelivery): then it prices anew."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.budgets import store as budget_store
from services.budgets.service import BudgetService
from services.pricing.genai import GenaiPricesSource
from services.pricing.interface import PriceSource, UnknownModel
from services.pricing.memo import PricedOnce
from services.pricing.models import Price, Usage
from services.pricing.overrides import PriceOverride
from services.token_costs import overrides_store
from services.token_costs.handlers import TokenCosts
from services.token_costs.price_book import PriceBook
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.db.clickhouse import ClickHouse
from shared.messages.budgets import AdmissionItem, AdmissionRequest, CreateBudget, Period
from shared.messages.envelope import Principal
from shared.messages.telemetry import TokenEvent, TokenEventColumns, TokenEventsAccepted

NOW = datetime.now(UTC).replace(microsecond=0)


class CountingSource(PriceSource):
    """The maintained prices, counting every call priced (what priced once is measured by)."""

    def __init__(self) -> None:
        self._prices = GenaiPricesSource()
        self.calls = 0

    def price(self, provider: str, model: str, usage: Usage, at: datetime) -> Price:
        self.calls += 1
        return self._prices.price(provider, model, usage, at)


class Monitoring:
    """The MonitoringAgent's admission and consumer over one price book and one memo, as wired."""

    def __init__(self, pool: asyncpg.Pool, clickhouse: ClickHouse) -> None:
        self.source = CountingSource()
        self.pool = pool
        self.clickhouse = clickhouse
        self.book = PriceBook(overrides_store.loader(pool), self.source)
        self.memo = PricedOnce()
        self.budgets = BudgetService(pool, self.book.source_for, memo=self.memo)
        store = TokenCostStore(clickhouse)
        self.costs = TokenCosts(self.book, store, TokenEventWriter(store, max_delay=0.0), memo=self.memo)
        self.team = str(uuid.uuid4())
        self.ctx = MessageContext(principal=Principal(team_id=self.team, roles=("member",)))
        self.deliveries = 0

    async def with_budget(self) -> None:
        async with self.pool.acquire() as conn:
            budget = CreateBudget(name="cap", amount_usd=Decimal(1000), period=Period.MONTH, hard_limit=False)
            await budget_store.create(conn, self.team, budget, None)

    async def admit(self, events: list[TokenEvent]) -> None:
        """As the edge asks for a batch's new events."""
        fields = AdmissionItem.model_fields.keys() - {"index"}
        items = [
            AdmissionItem(index=n, **{name: getattr(event, name) for name in fields})
            for n, event in enumerate(events)
        ]
        result = await self.budgets.admit(AdmissionRequest(items=items), self.ctx)
        assert not result.refused

    async def consume(self, events: list[TokenEvent]) -> bool:
        """One delivery of the accepted-events message the edge publishes."""
        self.deliveries += 1
        message = TokenEventsAccepted(received_at=NOW, events=TokenEventColumns.of(events))
        # A round trip through JSON, as on the bus: the consumer compares what it decoded.
        message = TokenEventsAccepted.model_validate_json(message.model_dump_json())
        delivery = Delivery(
            message_id="m1", consumer="monitoring", attempt=self.deliveries, stream_sequence=1
        )
        return await self.costs.on_accepted(message, self.ctx, delivery)

    async def stored(self) -> dict[str, Decimal]:
        rows = await self.clickhouse.query(
            "SELECT event_id, cost_usd FROM token_events WHERE team_id = {team:String}", {"team": self.team}
        )
        return {row["event_id"]: Decimal(str(row["cost_usd"])) for row in rows}

    def price(self, event: TokenEvent) -> Decimal:
        usage = Usage(input_tokens=event.input_tokens, output_tokens=event.output_tokens)
        return GenaiPricesSource().price(event.provider, event.model, usage, event.timestamp).total


def _events(count: int, **fields: Any) -> list[TokenEvent]:
    values: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 100,
        "timestamp": NOW - timedelta(seconds=1),
    }
    values.update(fields)
    return [TokenEvent(id=f"e{n}", **values) for n in range(count)]


async def test_an_admitted_event_is_priced_once_and_stored_at_that_price(
    migrated_pool: asyncpg.Pool, clickhouse: ClickHouse
) -> None:
    """Admission prices 5 events; the consumer stores all 5 without pricing any again, at the price
    the maintained source gives (and unpriced ones stay unpriced, with their reason)."""
    mono = Monitoring(migrated_pool, clickhouse)
    await mono.with_budget()
    events = [*_events(4), _events(1, model="no-such-model-anywhere")[0].model_copy(update={"id": "u"})]
    await mono.admit(events)
    assert mono.source.calls == 5
    assert await mono.consume(events)
    assert mono.source.calls == 5
    assert mono.memo.reused == 5
    assert len(mono.memo) == 0
    stored = await mono.stored()
    assert stored == {**{f"e{n}": mono.price(events[n]) for n in range(4)}, "u": Decimal(0)}
    rows = await clickhouse.query(
        "SELECT priced, pricing_error FROM token_events WHERE team_id = {team:String} AND event_id = 'u'",
        {"team": mono.team},
    )
    assert rows[0]["priced"] in (0, False)
    assert rows[0]["pricing_error"] == str(UnknownModel("openai", "no-such-model-anywhere"))


async def test_a_redelivery_is_priced_again_and_stored_once(
    migrated_pool: asyncpg.Pool, clickhouse: ClickHouse
) -> None:
    """A kept price is handed out once: the message delivered again is priced by the consumer
    itself (3 more calls) and stores nothing new."""
    mono = Monitoring(migrated_pool, clickhouse)
    await mono.with_budget()
    events = _events(3)
    await mono.admit(events)
    assert await mono.consume(events)
    assert not await mono.consume(events)
    assert mono.source.calls == 6
    assert len(await mono.stored()) == 3


async def test_an_override_made_between_admission_and_consumption_prices_anew(
    migrated_pool: asyncpg.Pool, clickhouse: ClickHouse
) -> None:
    """The team's override changes its price book after admission: the consumer does not reuse the
    old price but stores the override's (a 50 % discount)."""
    mono = Monitoring(migrated_pool, clickhouse)
    await mono.with_budget()
    events = _events(3)
    await mono.admit(events)
    async with migrated_pool.acquire() as conn:
        override = PriceOverride(
            provider="openai",
            model_pattern="gpt-4o",
            effective_from=NOW - timedelta(days=1),
            discount_percent=Decimal(50),
        )
        await overrides_store.create(conn, mono.team, override, None)
    mono.book.invalidate(mono.team)  # as the override endpoint does after its commit
    await mono.consume(events)
    assert mono.memo.reused == 0
    assert mono.source.calls == 6
    assert await mono.stored() == {f"e{n}": mono.price(events[n]) / 2 for n in range(3)}


async def test_other_content_under_an_admitted_id_is_priced_anew(
    migrated_pool: asyncpg.Pool, clickhouse: ClickHouse
) -> None:
    """The message carries an event whose tokens differ from what was admitted under its id: its
    own tokens are priced and stored, the others' kept prices are reused."""
    mono = Monitoring(migrated_pool, clickhouse)
    await mono.with_budget()
    events = _events(2)
    await mono.admit(events)
    changed = [events[0], events[1].model_copy(update={"output_tokens": 5000})]
    await mono.consume(changed)
    assert mono.memo.reused == 1
    assert mono.source.calls == 3
    assert (await mono.stored())["e1"] == mono.price(changed[1])


async def test_a_team_without_budgets_is_priced_by_the_consumer() -> None:
    """No admission, nothing kept: the memo hands out nothing it was not given, and drops its oldest
    entries past its capacity (refused events are never consumed)."""
    memo = PricedOnce(capacity=2)
    source = GenaiPricesSource()
    call = ("openai", "gpt-4o", NOW, 1000, 100, 0, 0, 0, 0)
    price = source.price("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=100), NOW)
    assert memo.take("t", "a", source, call) is None
    for event_id in ("a", "b", "c"):
        memo.keep("t", event_id, source, call, price)
    assert len(memo) == 2
    assert memo.take("t", "a", source, call) is None  # the oldest, dropped
    assert memo.take("other-team", "b", source, call) is None
    assert memo.take("t", "c", GenaiPricesSource(), call) is None  # another source object
    assert memo.take("t", "b", source, call) == price
    assert memo.take("t", "b", source, call) is None  # once
