"""The record of every accepted webhook delivery (super_agent.webhook_deliveries).

A delivery is known by its GUID on its endpoint (GitHub's redelivery keeps the GUID; the optional
`X-GitHub-Hook-ID` header is kept but identifies nothing), and by the SHA-256 of the signed
document: the signature covers only the body, so the same body under a fresh GUID is a replay of
a captured delivery, counted on the original and never applied again.
"""

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
    # retry: an earlier attempt failed, so this redelivery is processed again; replay: a body
    # already recorded under another GUID (never applied again).
    disposition: Literal["new", "pending", "done", "retry", "replay"]


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
    # SHA-256 of the signed JSON document (the body, or a form body's `payload` field).
    document_sha256: bytes


async def record(conn: Connection, incoming: IncomingDelivery) -> Recorded:
    """Store a delivery, or recognise a redelivery (same endpoint and GUID) or a replay (same
    signed document under another GUID) of one already stored."""
    # The common case is one statement in autocommit: a new delivery costs one round trip.
    inserted = await conn.fetchrow(
        """
        INSERT INTO super_agent.webhook_deliveries
            (endpoint, hook_id, guid, event, action, target_type, target_id, body, payload, document_sha256)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
        ON CONFLICT DO NOTHING
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
        incoming.document_sha256,
    )
    if inserted is not None:
        return Recorded(inserted["id"], inserted["attempt"], "new")
    async with conn.transaction():
        existing = await conn.fetchrow(
            "SELECT id, status, attempt FROM super_agent.webhook_deliveries "
            "WHERE endpoint = $1 AND guid = $2 FOR UPDATE",
            incoming.endpoint,
            incoming.guid,
        )
        if existing is None:
            return await _record_replay(conn, incoming)
        if existing["status"] == "failed":
            attempt = await _requeue(conn, existing["id"], redelivery=True)
            return Recorded(existing["id"], attempt, "retry")
        await conn.execute(
            "UPDATE super_agent.webhook_deliveries SET redeliveries = redeliveries + 1 WHERE id = $1",
            existing["id"],
        )
        disposition: Literal["pending", "done"] = "pending" if existing["status"] == "received" else "done"
        return Recorded(existing["id"], existing["attempt"], disposition)


async def _record_replay(conn: Connection, incoming: IncomingDelivery) -> Recorded:
    """The insert conflicted on the document digest: count the replay on the original delivery."""
    original = await conn.fetchrow(
        "UPDATE super_agent.webhook_deliveries SET replays = replays + 1, last_replay_guid = $3, "
        "last_replay_at = now() WHERE endpoint = $1 AND document_sha256 = $2 RETURNING id, attempt",
        incoming.endpoint,
        incoming.document_sha256,
        incoming.guid,
    )
    assert original is not None  # the conflicting row exists and rows are never deleted here
    return Recorded(original["id"], original["attempt"], "replay")


async def _requeue(conn: Connection, delivery_id: int, *, redelivery: bool) -> int:
    """Start a new processing attempt of a failed delivery; its new attempt number."""
    attempt: int = await conn.fetchval(
        "UPDATE super_agent.webhook_deliveries SET status = 'received', attempt = attempt + 1, "
        "redeliveries = redeliveries + $2 WHERE id = $1 RETURNING attempt",
        delivery_id,
        1 if redelivery else 0,
    )
    return attempt


async def requeue_failed(conn: Connection, delivery_id: int) -> Recorded | None:
    """An operator's reprocessing of a failed delivery: a new attempt, or None when the delivery
    does not exist; a delivery that is not failed keeps its state (disposition pending/done)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT status, attempt FROM super_agent.webhook_deliveries WHERE id = $1 FOR UPDATE",
            delivery_id,
        )
        if row is None:
            return None
        if row["status"] == "failed":
            return Recorded(delivery_id, await _requeue(conn, delivery_id, redelivery=False), "retry")
        disposition: Literal["pending", "done"] = "pending" if row["status"] == "received" else "done"
        return Recorded(delivery_id, row["attempt"], disposition)


_DELIVERY_COLUMNS = "id, endpoint, hook_id, guid, event, action, payload, status, attempt"


def _stored(row: Any) -> StoredDelivery:
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


async def load_for_update(conn: Connection, delivery_id: int) -> StoredDelivery | None:
    row = await conn.fetchrow(
        f"SELECT {_DELIVERY_COLUMNS} FROM super_agent.webhook_deliveries WHERE id = $1 FOR UPDATE",
        delivery_id,
    )
    return None if row is None else _stored(row)


async def claim_and_load(
    conn: Connection, consumer: str, message_id: str, delivery_id: int
) -> StoredDelivery | None:
    """The inbox claim of the queue message and the delivery's row, locked, in one statement (one
    round trip on the apply path instead of two; `shared.db.inbox.claim` says why claims exist).
    None when the message was claimed before (a redelivery) or the delivery is not stored; the
    claim holds either way, as with `claim` then `load_for_update`. Call it inside the transaction
    that applies the delivery."""
    row = await conn.fetchrow(
        f"""
        WITH claimed AS (
            INSERT INTO super_agent.processed_messages (consumer, message_id) VALUES ($1, $2)
            ON CONFLICT DO NOTHING RETURNING 1
        )
        SELECT {_DELIVERY_COLUMNS} FROM super_agent.webhook_deliveries
        WHERE id = $3 AND EXISTS (SELECT 1 FROM claimed)
        FOR UPDATE
        """,
        consumer,
        message_id,
        delivery_id,
    )
    return None if row is None else _stored(row)


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
