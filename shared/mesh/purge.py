"""Purging a team's data: every agent deletes what it holds for the teams of a request, then
confirms on the bus. Deletes are idempotent, so a redelivered request is simply purged (and
confirmed) again; the confirmation's message id makes it count once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.db.inbox import Connection
from shared.messages.agents import AgentName
from shared.messages.lifecycle import TeamDataPurged, TeamDataPurgeRequested
from shared.messages.registry import TEAM_DATA_PURGED

# Deletes everything of the given teams from one store; returns how many rows (or objects) went.
TeamPurger = Callable[[Connection, Sequence[str]], Awaitable[int]]

log = structlog.get_logger("mno.purge")


class TeamDataPurge:
    def __init__(self, pool: Any, agent: AgentName, bus: Bus) -> None:
        self._pool = pool
        self._agent = agent
        self._bus = bus
        self._purgers: list[TeamPurger] = []

    def register(self, purger: TeamPurger) -> None:
        """Add one store of team data; each agent registers every table (or bucket) it owns."""
        self._purgers.append(purger)

    async def handle(self, event: TeamDataPurgeRequested, ctx: MessageContext, delivery: Delivery) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = 0
            for purger in self._purgers:
                rows += await purger(conn, event.team_ids)
        await self._bus.publish(
            TEAM_DATA_PURGED,
            TeamDataPurged(request_id=event.request_id, agent=self._agent, rows_deleted=rows),
            ctx.caused_by(delivery.message_id),
            message_id=f"purged:{event.request_id}:{self._agent.value}",
        )
        log.info("purged team data", request_id=event.request_id, teams=len(event.team_ids), rows=rows)
        return True
