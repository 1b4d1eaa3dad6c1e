"""Team prices on the MonitoringAgent: the per-team price book, override endpoints, re-pricing, purge."""

from __future__ import annotations

from typing import Any

from services.pricing.interface import PriceSource
from services.token_costs import overrides_store
from services.token_costs.price_book import PriceBook
from services.token_costs.price_handlers import PriceOverrides
from services.token_costs.quotes import PriceQuotes
from services.token_costs.reprice import Repricer, SpendReviser
from shared.db.clickhouse import ClickHouse
from shared.messages.registry import (
    COSTS_REPRICE,
    PRICE_OVERRIDE_CREATE,
    PRICE_OVERRIDE_DELETE,
    PRICE_OVERRIDES_LIST,
    PRICE_QUOTE,
)
from shared.runtime import AgentRuntime


def price_book(pool: Any, base: PriceSource) -> PriceBook:
    """The price book every token-event batch is priced with (the base source plus team overrides)."""
    return PriceBook(overrides_store.loader(pool), base)


def wire_prices(
    runtime: AgentRuntime,
    pool: Any,
    purge: Any,
    clickhouse: ClickHouse,
    book: PriceBook,
    revise_spend: SpendReviser,
) -> None:
    """Override endpoints and re-pricing (which moves budget spend by the cost changes)."""
    repricer = Repricer(clickhouse, pool, book, revise_spend=revise_spend)
    overrides = PriceOverrides(pool, book, repricer)
    runtime.service.add(PRICE_OVERRIDES_LIST, overrides.list)
    runtime.service.add(PRICE_OVERRIDE_CREATE, overrides.create)
    runtime.service.add(PRICE_OVERRIDE_DELETE, overrides.delete)
    runtime.service.add(COSTS_REPRICE, overrides.reprice)
    runtime.service.add(PRICE_QUOTE, PriceQuotes(book).quote)
    purge.register(overrides_store.purge_teams)
