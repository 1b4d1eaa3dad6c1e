"""The record of every accepted webhook delivery (super_agent.webhook_deliveries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.db.inbox import Connection

Status = Literal["received", "processed", "ignored", "failed"]


@dataclass(frozen=True)
class Recorded:
    delivery_id: int
    attempt: int
    # new: first time seen; pending: seen, not yet applied; done: already applied (or ignored);
    # retry: an earlier attempt failed, so this redelivery is processed again.
    disposition: Literal["new", "pending", "done", "retry"]


@dataclass(frozen=True)
class StoredDelivery:
    id: int
    endpoint: Literal["app", "marketplace"]
    hook_id: str
    guid: str
    event: str
    action: str | None
    payload: dict[str, Any]
    status: Status
    attempt: int


@dataclass(frozen=True)
class IncomingDelivery:
    endpoint: Literal["app", "marketplace"]
    hook_id: str
    guid: str
    event: str
    action: str | None
    target_type: str | None
    target_id: str | None
    body: bytes
    payload: dict[str, Any]


async def record(conn: Connection, incoming: IncomingDelivery) -> Recorded:
    """Store a delivery, or recognise a redelivery of one already stored (same hook id and GUID)."""
    # The common case is one statement in autocommit: a new delivery costs one round trip.
    inserted = await conn.fetchrow(
        """
        INSERT INTO super_agent.webhook_deliveries
            (endpoint, hook_id, guid, event, action, target_type, target_id, body, payload)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
        ON CONFLICT (hook_id, guid) DO NOTHING
        RETURNING id, attempt
        """,
        incoming.endpoint,
        incoming.hook_id,
        incoming.guid,
        incoming.event,
        incoming.action,
        incoming.target_type,
        incoming.target_id,
        incoming.body,
        incoming.payload,
    )
    if inserted is not None:
        return Recorded(inserted["id"], inserted["attempt"], "new")
    async with conn.transaction():
        existing = await conn.fetchrow(
            "SELECT id, status, attempt FROM super_agent.webhook_deliveries "
            "WHERE hook_id = $1 AND guid = $2 FOR UPDATE",
            incoming.hook_id,
            incoming.guid,
        )
        assert existing is not None  # the conflicting row exists and rows are never deleted here
        if existing["status"] == "failed":
            attempt = await conn.fetchval(
                "UPDATE super_agent.webhook_deliveries SET status = 'received', attempt = attempt + 1, "
                "redeliveries = redeliveries + 1 WHERE id = $1 RETURNING attempt",
                existing["id"],
            )
            return Recorded(existing["id"], attempt, "retry")
        await conn.execute(
            "UPDATE super_agent.webhook_deliveries SET redeliveries = redeliveries + 1 WHERE id = $1",
            existing["id"],
        )
        disposition: Literal["pending", "done"] = "pending" if existing["status"] == "received" else "done"
        return Recorded(existing["id"], existing["attempt"], disposition)


async def load_for_update(conn: Connection, delivery_id: int) -> StoredDelivery | None:
    row = await conn.fetchrow(
        "SELECT id, endpoint, hook_id, guid, event, action, payload, status, attempt "
        "FROM super_agent.webhook_deliveries WHERE id = $1 FOR UPDATE",
        delivery_id,
    )
    if row is None:
        return None
    return StoredDelivery(
        id=row["id"],
        endpoint=row["endpoint"],
        hook_id=row["hook_id"],
        guid=row["guid"],
        event=row["event"],
        action=row["action"],
        payload=row["payload"],
        status=row["status"],
        attempt=row["attempt"],
    )


async def finish(
    conn: Connection, delivery_id: int, status: Status, outcome: str, error: str | None = None
) -> None:
    await conn.execute(
        "UPDATE super_agent.webhook_deliveries SET status = $2, outcome = $3, last_error = $4, "
        "processed_at = now() WHERE id = $1",
        delivery_id,
        status,
        outcome,
        error,
    )
