"""Idempotent event handling: the "inbox" pattern.

JetStream delivers at least once. A handler claims the message id in the same transaction
that applies its effects:

    async with connection.transaction():
        if await claim(connection, "monitoring", "alerts", message_id):
            ...apply effects...
    await message.ack()

A crash before the commit records nothing, so the redelivery is processed; a crash after
the commit but before the ack makes the redelivery a no-op. A concurrent delivery of the
same id waits on the primary key until the first transaction ends, then sees the claim.
Each schema gets its ``processed_messages`` table from its 0001 migration.
"""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

from shared.db.identifiers import quoted_schema

# A plain connection or one acquired from a pool; a pool has no transaction to join.
Connection: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class ClaimOutsideTransactionError(RuntimeError):
    """claim() was called in autocommit mode, where the claim would outlive a failed handler."""


async def claim(conn: Connection, schema: str, consumer: str, message_id: str) -> bool:
    """Record `message_id` as handled by `consumer`; True only the first time."""
    table = f"{quoted_schema(schema)}.processed_messages"
    if not conn.is_in_transaction():
        raise ClaimOutsideTransactionError(
            "claim() must run inside the transaction that applies the handler's effects"
        )
    inserted = await conn.fetchval(
        f"INSERT INTO {table} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        message_id,
    )
    return inserted is True
