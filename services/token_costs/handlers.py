"""Bus handlers of token costs: accepted events in, cost reports out. Scoped by the principal's team."""

from __future__ import annotations

import time
from datetime import UTC

from services.pricing.memo import PricedOnce
from services.token_costs.price_book import PriceBook
from services.token_costs.queries import QueryTooLarge
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.unpriced_alerts import UnpricedModelAlerts
from services.token_costs.writer import TokenEventWriter, WriteResult
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.bus.events import Delivery
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.messages.telemetry import CostQuery, CostReport, TokenEventsAccepted
from shared.metrics import (
    TOKEN_EVENT_PIPELINE_SECONDS,
    TOKEN_EVENT_PRICED_SECONDS,
    TOKEN_EVENT_PRICES_REUSED_TOTAL,
    TOKEN_EVENTS_PRICED_TOTAL,
)
from shared.principals import team_with


class TokenCosts:
    def __init__(
        self,
        prices: PriceBook,
        store: TokenCostStore,
        writer: TokenEventWriter,
        unpriced: UnpricedModelAlerts | None = None,
        memo: PricedOnce | None = None,
    ) -> None:
        self._memo = memo
        self._prices = prices
        self._store = store
        self._writer = writer
        self._unpriced = unpriced

    async def on_accepted(self, event: TokenEventsAccepted, ctx: MessageContext, _delivery: Delivery) -> bool:
        """Price and store a batch; True when it stored anything new (a redelivery stores nothing)."""
        team_id = team_with(ctx.principal, Permission.TOKEN_EVENTS_WRITE)
        source = await self._prices.source_for(team_id)
        reused = self._memo.reused if self._memo is not None else 0
        batch = price_events(source, team_id, event.api_key_id, event.received_at, event.events, self._memo)
        if self._memo is not None:
            TOKEN_EVENT_PRICES_REUSED_TOTAL.inc(self._memo.reused - reused)
        accepted_at = event.received_at.astimezone(UTC).timestamp()
        TOKEN_EVENT_PRICED_SECONDS.observe(max(0.0, time.time() - accepted_at))
        unpriced = batch.unpriced
        TOKEN_EVENTS_PRICED_TOTAL.labels("priced").inc(len(batch) - unpriced)
        TOKEN_EVENTS_PRICED_TOTAL.labels("unknown_model").inc(unpriced)
        if unpriced and self._unpriced is not None:
            columns = batch.columns
            self._unpriced.seen(
                team_id,
                (
                    (provider, model, reason)
                    for provider, model, priced, reason in zip(
                        columns["provider"],
                        columns["model_raw"],
                        columns["priced"],
                        columns["pricing_error"],
                        strict=True,
                    )
                    if not priced
                ),
            )
        result: WriteResult = await self._writer.write(batch)
        TOKEN_EVENT_PIPELINE_SECONDS.observe(max(0.0, time.time() - accepted_at))
        return result.stored > 0

    async def report(self, query: CostQuery, ctx: MessageContext) -> CostReport:
        team_id = team_with(ctx.principal, Permission.COSTS_READ)
        try:
            return await self._store.report(team_id, query)
        except QueryTooLarge as error:
            raise AgentError(ErrorCode.VALIDATION_FAILED, str(error)) from error
