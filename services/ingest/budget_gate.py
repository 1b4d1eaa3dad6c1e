"""The edge's budget check: the MonitoringAgent (which owns budgets) admits each batch of a team
that has budgets; teams without any skip the round trip.

Whether a team has budgets is cached for `ttl` seconds (a new budget reaches every edge replica
within that time; this replica forgets at once when the budget is written through it). If the
MonitoringAgent cannot be asked, a team known to have budgets gets 503 (hard limits fail closed),
and a team never seen is served without (ingest stays available while the agent restarts).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog

from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import BusError
from shared.messages.budgets import AdmissionItem, AdmissionRequest, AdmissionResult, BudgetPresenceQuery
from shared.messages.registry import BUDGET_ADMISSION, BUDGET_PRESENCE
from shared.messages.telemetry import TokenEvent

log = structlog.get_logger("mno.ingest.budgets")


class BudgetGate:
    def __init__(self, bus: Bus, ttl: float = 2.0) -> None:
        self._bus = bus
        self._ttl = ttl
        self._known: dict[str, tuple[bool, float]] = {}

    def forget(self, team_id: str) -> None:
        self._known.pop(team_id, None)

    async def has_budgets(self, team_id: str, ctx: MessageContext) -> bool:
        """Whether the team has budgets (cached; the proxy's pre-check skips teams without)."""
        return await self._has_budgets(team_id, ctx)

    async def _has_budgets(self, team_id: str, ctx: MessageContext) -> bool:
        known = self._known.get(team_id)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        try:
            presence = await self._bus.request(BUDGET_PRESENCE, BudgetPresenceQuery(), ctx)
        except BusError:
            if known is not None and known[0]:
                raise
            log.warning("budgets unknown: monitoring agent unreachable; accepting without", team_id=team_id)
            return False
        self._known[team_id] = (presence.has_budgets, time.monotonic() + self._ttl)
        return presence.has_budgets

    async def admit(
        self,
        ctx: MessageContext,
        team_id: str,
        api_key_id: str | None,
        events: Sequence[TokenEvent],
        positions: Sequence[int],
    ) -> AdmissionResult:
        """Which events the team's budgets refuse (by request index); none when it has no budgets."""
        if not await self._has_budgets(team_id, ctx):
            return AdmissionResult()
        items = [
            AdmissionItem(
                index=position,
                id=event.id,
                timestamp=event.timestamp,
                provider=event.provider,
                model=event.model,
                input_tokens=event.input_tokens,
                output_tokens=event.output_tokens,
                cache_read_tokens=event.cache_read_tokens,
                cache_write_tokens=event.cache_write_tokens,
                cache_write_1h_tokens=event.cache_write_1h_tokens,
                reasoning_tokens=event.reasoning_tokens,
                user=event.user,
                project=event.project,
            )
            for event, position in zip(events, positions, strict=True)
        ]
        return await self._bus.request(
            BUDGET_ADMISSION, AdmissionRequest(api_key_id=api_key_id, items=items), ctx
        )
