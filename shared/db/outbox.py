"""Publishing events with the data they announce: the "outbox" pattern.

An event about rows a transaction writes is written into the same transaction, into an outbox
table of the agent's schema, instead of being published from inside it (where a publish that
succeeds before a failed commit announces what does not exist, and a slow stream fails a write
that could have been stored):

    outgoing = bus.encode_event(EVENT, payload, ctx, message_id=deterministic_id)
    async with conn.transaction():
        ...write the rows...
        await outbox.add(conn, outgoing, team_id=team_id)
    await outbox.send(outgoing)  # after the commit: published at once in the common case
    outbox.send_soon(outgoing)   # or the same without waiting for it (the caller answers meanwhile)

`send` never raises: what JetStream did not take stays pending, and the relay job (`relay`, run
by one replica at a time under an advisory lock) publishes pending rows in the order they were
written, backing off a row after each failure. A row is stored as the encoded envelope and its
headers, so the event that leaves late carries the correlation id and trace of the request that
caused it, and its id as `Nats-Msg-Id`: a row sent twice (at once and by the relay, or again after
an ack that was lost) is stored once by JetStream's duplicate window, and consumers dedupe by the
same id beyond it (`shared/db/inbox.py`). Published rows are kept for `retention`, then deleted.

The table (see database/postgres/artifact_manager/0007_outbox.sql) has: id (identity: the order),
message_id (unique), event, subject, data, headers, team_id, created_at, next_attempt_at,
published_at, attempts, last_error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from shared.bus.client import Bus, OutgoingEvent
from shared.db.identifiers import quoted_schema
from shared.db.inbox import Connection
from shared.db.locks import try_advisory_lock
from shared.metrics import (
    OUTBOX_OLDEST_PENDING_SECONDS,
    OUTBOX_PENDING,
    OUTBOX_SEND_ERRORS_TOTAL,
    OUTBOX_SENT_TOTAL,
)

log = structlog.get_logger("mno.outbox")

_IDENTIFIER_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


class OutboxOutsideTransactionError(RuntimeError):
    """add() was called in autocommit mode, where the row would not share the data's fate."""


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    # The relay leaves a new row alone this long: the send after the commit is under way.
    grace_seconds: float = 5.0
    # The send after the commit waits this long for JetStream's ack (a client is waiting); the
    # relay waits the bus's request timeout.
    send_timeout_seconds: float = 2.0
    # Published rows are deleted this long after their publish.
    retention: timedelta = timedelta(hours=1)
    # Rows the relay publishes per round trip to the table, and round trips per run at most.
    batch: int = 100
    max_batches: int = 10
    # A row JetStream did not take waits this long before the relay tries it again, doubled after
    # each further failure, up to the maximum.
    first_retry_seconds: float = 2.0
    max_retry_seconds: float = 300.0


class Outbox:
    """One outbox table of an agent's schema, and the bus its events go out on."""

    def __init__(
        self,
        pool: Any,
        bus: Bus,
        *,
        agent: str,
        schema: str,
        table: str = "outbox",
        settings: OutboxSettings | None = None,
    ) -> None:
        if not table or not set(table) <= _IDENTIFIER_CHARACTERS:
            raise ValueError(f"not a plain table name: {table!r}")
        self._pool = pool
        self._bus = bus
        self._agent = agent
        self._table = f"{quoted_schema(schema)}.{table}"
        self._lock = f"mno.outbox.{schema}.{table}"
        self._settings = settings or OutboxSettings()
        self._sending: set[asyncio.Task[bool]] = set()

    async def add(self, conn: Connection, outgoing: OutgoingEvent, *, team_id: str | None = None) -> None:
        """Write the event into the outbox, inside the transaction that writes what it announces.
        An event already there (the same message id) is not written again."""
        if not conn.is_in_transaction():
            raise OutboxOutsideTransactionError(
                "Outbox.add() must run inside the transaction that writes what the event announces"
            )
        await conn.execute(
            f"""
            INSERT INTO {self._table}
                (message_id, event, subject, data, headers, team_id, next_attempt_at)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6::uuid, now() + make_interval(secs => $7))
            ON CONFLICT (message_id) DO NOTHING
            """,
            outgoing.message_id,
            outgoing.event,
            outgoing.subject,
            outgoing.data,
            dict(outgoing.headers),
            team_id,
            self._settings.grace_seconds,
        )

    async def send(self, outgoing: OutgoingEvent) -> bool:
        """Publish a committed row's event at once; True when JetStream took it. On failure the row
        stays pending for the relay (this never raises: what it announces is stored already)."""
        return await self._publish(outgoing, path="commit", timeout=self._settings.send_timeout_seconds)

    def send_soon(self, outgoing: OutgoingEvent) -> None:
        """`send` in a task of its own: a caller answering a client after the commit (a publish) does
        not keep it waiting for JetStream's ack and the row's update, nor for the send timeout while
        the stream is away. `close` lets the sends in flight finish at shutdown; one cut short leaves
        its row pending, for the relay."""
        task = asyncio.create_task(self.send(outgoing), name=f"outbox send {outgoing.message_id}")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def close(self) -> None:
        """Wait for the sends `send_soon` started (at shutdown, before the pool closes)."""
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=self._settings.send_timeout_seconds + 1)

    async def relay(self) -> int:
        """Publish the pending rows whose time has come, oldest first, and delete published rows
        past their retention; the number published. One replica at a time: another's call returns 0.
        A failed publish ends the round (the stream is most likely unavailable) and backs that row
        off; later rows may go before it then, so one event JetStream refuses holds up no other."""
        published = 0
        async with try_advisory_lock(self._pool, self._lock) as held:
            if not held:
                return 0
            # A bounded number of batches per run: a row whose publish cannot be recorded (the
            # table failing) stays due, and must not be sent round and round within one run.
            for _ in range(self._settings.max_batches):
                rows = await self._pool.fetch(
                    f"""
                    SELECT message_id, event, subject, data, headers FROM {self._table}
                    WHERE published_at IS NULL AND next_attempt_at <= now()
                    ORDER BY id LIMIT $1
                    """,
                    self._settings.batch,
                )
                sent = 0
                for row in rows:
                    outgoing = OutgoingEvent(
                        event=row["event"],
                        subject=row["subject"],
                        message_id=row["message_id"],
                        data=bytes(row["data"]),
                        headers=dict(row["headers"]),
                    )
                    if not await self._publish(outgoing, path="relay", timeout=None):
                        break
                    sent += 1
                published += sent
                if sent < self._settings.batch:
                    break
            await self._pool.execute(
                f"DELETE FROM {self._table} WHERE published_at < now() - $1::interval",
                self._settings.retention,
            )
        if published:
            log.info("outbox relayed", agent=self._agent, published=published)
        return published

    async def report(self) -> int:
        """Set the pending gauges (any replica may: the numbers are the table's); the pending count."""
        row = await self._pool.fetchrow(
            f"""
            SELECT count(*) AS pending,
                   coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest
            FROM {self._table} WHERE published_at IS NULL
            """
        )
        pending = int(row["pending"])
        OUTBOX_PENDING.labels(self._agent).set(pending)
        OUTBOX_OLDEST_PENDING_SECONDS.labels(self._agent).set(float(row["oldest"]))
        return pending

    async def run(self) -> None:
        """The periodic job: relay what is due, then report what is left."""
        await self.relay()
        await self.report()

    async def _publish(self, outgoing: OutgoingEvent, *, path: str, timeout: float | None) -> bool:
        try:
            await self._bus.publish_encoded(outgoing, timeout=timeout)
        except Exception as error:
            OUTBOX_SEND_ERRORS_TOTAL.labels(self._agent, path).inc()
            log.warning(
                "outbox event not published",
                agent=self._agent,
                path=path,
                subject=outgoing.subject,
                message_id=outgoing.message_id,
                error=repr(error),
            )
            # The n-th failure waits first * 2^(n-1) seconds, at most cap (SET reads the old attempts).
            await self._record(
                f"""
                UPDATE {self._table}
                SET attempts = attempts + 1, last_error = $2,
                    next_attempt_at = now()
                        + make_interval(secs => least($4, $3 * power(2, least(attempts, 30))))
                WHERE message_id = $1 AND published_at IS NULL
                """,
                outgoing.message_id,
                repr(error)[:2000],
                self._settings.first_retry_seconds,
                self._settings.max_retry_seconds,
                path=path,
            )
            return False
        OUTBOX_SENT_TOTAL.labels(self._agent, path).inc()
        await self._record(
            f"""
            UPDATE {self._table} SET published_at = now(), attempts = attempts + 1
            WHERE message_id = $1 AND published_at IS NULL
            """,
            outgoing.message_id,
            path=path,
        )
        return True

    async def _record(self, sql: str, message_id: str, *args: object, path: str) -> None:
        """Record a publish's outcome on its row. A failure here is logged, not raised: the row stays
        pending and is sent again, which JetStream and consumers take as a duplicate."""
        try:
            await self._pool.execute(sql, message_id, *args)
        except Exception as error:
            log.warning(
                "outbox row not updated",
                agent=self._agent,
                path=path,
                message_id=message_id,
                error=repr(error),
            )
