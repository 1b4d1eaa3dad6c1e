"""The outbox (shared/db/outbox.py) over real PostgreSQL and a NATS server of the test's own: events
written with a transaction, sent after its commit, relayed when JetStream did not take them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import nats
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from prometheus_client import REGISTRY

from mno.stack import NatsServer
from shared.bus.client import Bus, OutgoingEvent
from shared.bus.context import CORRELATION_HEADER, MESSAGE_ID_HEADER, MessageContext
from shared.bus.streams import ensure_streams
from shared.config.models import JetStreamSettings
from shared.db.locks import try_advisory_lock
from shared.db.outbox import Outbox, OutboxOutsideTransactionError, OutboxSettings
from shared.messages.mesh import CanaryEvent
from shared.messages.registry import CANARY

SETTINGS = JetStreamSettings()
SCHEMA = "artifact_manager"
TABLE = f"{SCHEMA}.outbox"
# The relay takes a row as soon as it is written, and again at once after a failure.
EAGER = OutboxSettings(grace_seconds=0, first_retry_seconds=0)


@dataclass
class Env:
    pool: asyncpg.Pool
    nc: NATS
    bus: Bus
    agent: str

    def outbox(self, settings: OutboxSettings = EAGER) -> Outbox:
        return Outbox(self.pool, self.bus, agent=self.agent, schema=SCHEMA, settings=settings)

    def event(self, canary_id: str, correlation_id: str | None = None) -> OutgoingEvent:
        ctx = MessageContext(correlation_id=correlation_id) if correlation_id else MessageContext()
        return self.bus.encode_event(
            CANARY, CanaryEvent(canary_id=canary_id), ctx, message_id=f"outbox-{uuid.uuid4().hex}"
        )

    async def write(self, outbox: Outbox, *events: OutgoingEvent) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            for outgoing in events:
                await outbox.add(conn, outgoing)

    async def stored(self) -> list[tuple[str, bytes, dict[str, str]]]:
        """What the events stream holds, oldest first: (message id, data, headers)."""
        js = self.nc.jetstream()
        state = (await js.stream_info(SETTINGS.events_stream)).state
        found = []
        if state.messages:
            for seq in range(state.first_seq, state.last_seq + 1):
                try:
                    msg = await js.get_msg(SETTINGS.events_stream, seq)
                except nats.js.errors.NotFoundError:
                    continue
                headers = dict(msg.headers or {})
                found.append((headers.get(MESSAGE_ID_HEADER, ""), bytes(msg.data or b""), headers))
        return found

    async def row(self, message_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            f"SELECT * FROM {TABLE} WHERE message_id = $1", message_id
        )
        return row


@pytest.fixture
async def env(migrated_pool: asyncpg.Pool, isolated_nats: NatsServer) -> AsyncIterator[Env]:
    connection = await nats.connect(isolated_nats.url)
    await ensure_streams(connection.jetstream(), SETTINGS)
    try:
        yield Env(
            migrated_pool,
            connection,
            Bus(connection, source="test", request_timeout=2),
            agent=f"test-{uuid.uuid4().hex[:8]}",
        )
    finally:
        await connection.close()


async def test_an_event_jetstream_refuses_stays_pending_and_the_relay_sends_it_exactly_once(env: Env) -> None:
    """With no stream to take it the row stays pending (attempts, error); once the stream is back
    the relay sends it, byte for byte with its correlation id, and it is stored once."""
    outbox = env.outbox()
    await env.nc.jetstream().delete_stream(SETTINGS.events_stream)
    outgoing = env.event("late", correlation_id="corr-outbox-late")
    await env.write(outbox, outgoing)

    assert not await outbox.send(outgoing)
    row = await env.row(outgoing.message_id)
    assert row is not None
    assert (row["published_at"], row["attempts"]) == (None, 1)
    assert "ServiceUnavailable" in row["last_error"]
    assert await outbox.relay() == 0  # still no stream: tried again, backed off
    assert (await env.row(outgoing.message_id))["attempts"] == 2  # type: ignore[index]

    await ensure_streams(env.nc.jetstream(), SETTINGS)
    assert await outbox.relay() == 1
    assert await outbox.relay() == 0
    # Sent once more (an ack lost, say): JetStream's duplicate window keeps one copy.
    await env.bus.publish_encoded(outgoing)
    stored = [s for s in await env.stored() if s[0] == outgoing.message_id]
    assert len(stored) == 1
    assert stored[0][1] == outgoing.data
    assert stored[0][2][CORRELATION_HEADER] == "corr-outbox-late"
    row = await env.row(outgoing.message_id)
    assert row is not None
    assert row["published_at"] is not None
    assert row["attempts"] == 3
    counts = {
        (name, path): REGISTRY.get_sample_value(name, {"agent": env.agent, "path": path})
        for name in ("mno_outbox_sent_total", "mno_outbox_send_errors_total")
        for path in ("commit", "relay")
    }
    assert counts == {
        ("mno_outbox_sent_total", "commit"): None,
        ("mno_outbox_sent_total", "relay"): 1,
        ("mno_outbox_send_errors_total", "commit"): 1,
        ("mno_outbox_send_errors_total", "relay"): 1,
    }


async def test_a_rolled_back_transaction_leaves_no_row_and_publishes_nothing(env: Env) -> None:
    """An event written in a transaction that rolls back is neither kept nor sent."""
    outbox = env.outbox()
    outgoing = env.event("never")

    async def store_then_fail() -> None:
        async with env.pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, outgoing)
            raise RuntimeError("the file could not be stored")

    with pytest.raises(RuntimeError):
        await store_then_fail()
    assert await env.pool.fetchval(f"SELECT count(*) FROM {TABLE}") == 0
    assert await outbox.relay() == 0
    assert await env.stored() == []


async def test_an_event_sent_after_the_commit_is_published_at_once_and_not_relayed(env: Env) -> None:
    """The send after the commit publishes and marks the row; the relay has nothing left to send."""
    outbox = env.outbox()
    outgoing = env.event("now")
    await env.write(outbox, outgoing)
    assert await outbox.send(outgoing)
    row = await env.row(outgoing.message_id)
    assert row is not None
    assert row["published_at"] is not None
    assert row["attempts"] == 1
    assert await outbox.relay() == 0
    assert [s[0] for s in await env.stored()] == [outgoing.message_id]


async def test_the_relay_waits_out_the_grace_sends_in_order_and_only_under_its_lock(env: Env) -> None:
    """Rows never sent (the process died after the commit) are left alone for the grace period,
    then relayed in the order written, batch after batch; while another replica holds the lock,
    nothing is sent."""
    events = [env.event(f"row-{i}") for i in range(5)]
    patient = env.outbox(OutboxSettings(grace_seconds=60, batch=2))
    await env.write(patient, *events)
    assert await patient.relay() == 0

    await env.pool.execute(f"UPDATE {TABLE} SET next_attempt_at = now()")
    async with try_advisory_lock(env.pool, f"mno.outbox.{SCHEMA}.outbox") as held:
        assert held
        assert await patient.relay() == 0
    assert await patient.relay() == 5
    assert [s[0] for s in await env.stored()] == [e.message_id for e in events]


async def test_published_rows_are_deleted_after_the_retention_and_pending_ones_kept(env: Env) -> None:
    """The relay deletes rows published longer ago than the retention, never a pending one."""
    outbox = env.outbox(OutboxSettings(grace_seconds=60, retention=timedelta(0)))
    sent, pending = env.event("sent"), env.event("pending")
    await env.write(outbox, sent, pending)
    assert await outbox.send(sent)
    assert await outbox.relay() == 0
    assert await env.row(sent.message_id) is None
    assert await env.row(pending.message_id) is not None


async def test_the_gauges_count_pending_rows_and_the_oldest_age(env: Env) -> None:
    """report() sets mno_outbox_pending and the oldest pending row's age for the agent."""
    outbox = env.outbox(OutboxSettings(grace_seconds=60))
    await env.write(outbox, env.event("a"), env.event("b"))
    await env.pool.execute(f"UPDATE {TABLE} SET created_at = now() - interval '30 seconds'")
    assert await outbox.report() == 2
    assert REGISTRY.get_sample_value("mno_outbox_pending", {"agent": env.agent}) == 2
    oldest = REGISTRY.get_sample_value("mno_outbox_oldest_pending_seconds", {"agent": env.agent})
    assert oldest is not None
    assert 30 <= oldest < 60


async def test_adding_outside_a_transaction_is_refused(env: Env) -> None:
    """An outbox row written in autocommit would not share the fate of the data it announces."""
    async with env.pool.acquire() as conn:
        with pytest.raises(OutboxOutsideTransactionError):
            await env.outbox().add(conn, env.event("alone"))
    assert await env.pool.fetchval(f"SELECT count(*) FROM {TABLE}") == 0
