"""Canary receipts: each agent records, once, every canary event it consumed.

A canary proves the durable path end to end (publish → stream → consumer → store) and, because
the receipt is written in the same transaction as the inbox claim, that redelivery after a crash
neither loses nor doubles work.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shared.bus.events import Delivery
from shared.db.inbox import claim
from shared.messages.agents import AgentName
from shared.messages.mesh import CanaryEvent, CanaryStatus


class CanaryLedger:
    def __init__(self, pool: Any, agent: AgentName, instance_id: str) -> None:
        self._pool = pool
        self._agent = agent
        self._schema = agent.value  # each agent owns the schema named after it
        self._instance_id = instance_id

    async def record(self, event: CanaryEvent, delivery: Delivery) -> bool:
        """Record the canary unless this message was already applied; True when applied now."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await claim(conn, self._schema, delivery.consumer, delivery.message_id):
                return False
            if event.work_ms:
                # The work happens inside the transaction: a crash mid-work leaves no trace, so the
                # redelivered message is processed in full by whichever replica gets it.
                await asyncio.sleep(event.work_ms / 1000)
            await conn.execute(
                f"""
                INSERT INTO {self._schema}.canary_receipts (canary_id, deliveries, instance_id, payload)
                VALUES ($1, $2, $3, $4::jsonb)
                """,
                event.canary_id,
                delivery.attempt,
                self._instance_id,
                event.model_dump(mode="json"),
            )
        return True

    async def status(self, canary_id: str) -> CanaryStatus:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT deliveries, instance_id, received_at FROM {self._schema}.canary_receipts "
                "WHERE canary_id = $1",
                canary_id,
            )
        if row is None:
            return CanaryStatus(agent=self._agent, canary_id=canary_id, processed=False)
        return CanaryStatus(
            agent=self._agent,
            canary_id=canary_id,
            processed=True,
            deliveries=row["deliveries"],
            instance_id=row["instance_id"],
            received_at=row["received_at"],
        )
