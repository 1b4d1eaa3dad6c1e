"""Applying queued webhook deliveries: load the stored payload, dispatch by event, record the outcome.

Each delivery is applied in one transaction with the inbox claim, so a redelivered queue message
is a no-op. A handler failure rolls that transaction back, marks the delivery failed (so a
redelivery from GitHub is processed again) and lets the queue retry it with backoff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from pydantic import ValidationError

from services.webhooks import deliveries
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.db.inbox import Connection
from shared.messages.github import WebhookReceived

log = structlog.get_logger("mno.webhooks")


@dataclass(frozen=True)
class Outcome:
    status: Literal["processed", "ignored"]
    description: str


WebhookHandler = Callable[[Connection, deliveries.StoredDelivery], Awaitable[Outcome]]


class WebhookDispatcher:
    """Routes a delivery to the handler registered for its event on its endpoint."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], WebhookHandler] = {}

    def register(self, endpoint: Literal["app", "marketplace"], event: str, handler: WebhookHandler) -> None:
        self._handlers[(endpoint, event)] = handler

    async def apply(self, conn: Connection, stored: deliveries.StoredDelivery) -> Outcome:
        handler = self._handlers.get((stored.endpoint, stored.event))
        if handler is None:
            return Outcome("ignored", f"no handler for {stored.event} on the {stored.endpoint} endpoint")
        return await handler(conn, stored)


class WebhookProcessor:
    def __init__(self, pool: Any, dispatcher: WebhookDispatcher) -> None:
        self._pool = pool
        self._dispatcher = dispatcher

    async def handle(self, event: WebhookReceived, _ctx: MessageContext, delivery: Delivery) -> bool:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                stored = await deliveries.claim_and_load(
                    conn, delivery.consumer, delivery.message_id, event.delivery_id
                )
                if stored is None:
                    # A redelivered message (claimed before), or, rarely, a delivery not stored.
                    if await deliveries.load_for_update(conn, event.delivery_id) is None:
                        log.error("queued webhook delivery is not stored", delivery_id=event.delivery_id)
                    return False
                if stored.status in ("processed", "ignored") or stored.attempt != event.attempt:
                    return False  # applied already, or superseded by a later attempt
                try:
                    outcome = await self._dispatcher.apply(conn, stored)
                except ValidationError as error:
                    # The payload can never be applied as it is: record why and stop retrying.
                    # A redelivery from GitHub starts a new attempt, so nothing is final.
                    await deliveries.finish(conn, stored.id, "failed", "payload rejected", str(error))
                    log.warning("webhook payload rejected", github_event=stored.event, guid=stored.guid)
                    return True
                await deliveries.finish(conn, stored.id, outcome.status, outcome.description)
        except Exception as error:
            async with self._pool.acquire() as conn:
                await deliveries.finish(conn, event.delivery_id, "failed", "handler failed", repr(error))
            raise
        log.info(
            "applied webhook",
            github_event=stored.event,
            action=stored.action,
            guid=stored.guid,
            status=outcome.status,
            outcome=outcome.description,
        )
        return True
