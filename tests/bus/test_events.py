"""Durable events over real JetStream: dedup on publish, retries with backoff, the dead-letter path."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NATS

from mno.stack import NatsServer
from shared.bus.client import Bus
from shared.bus.context import MESSAGE_ID_HEADER, MessageContext
from shared.bus.events import DLQ_DELIVERIES_HEADER, DLQ_REASON_HEADER, Delivery, EventConsumer
from shared.bus.streams import ensure_streams
from shared.config.models import JetStreamSettings
from shared.messages.agents import AgentName
from shared.messages.mesh import CanaryEvent
from shared.messages.registry import CANARY

SETTINGS = JetStreamSettings(ack_wait_seconds=1, max_deliver=3, backoff_seconds=[0.1, 0.2], fetch_batch=10)


@pytest.fixture
async def nc(isolated_nats: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(isolated_nats.url)
    await ensure_streams(connection.jetstream(), SETTINGS)
    try:
        yield connection
    finally:
        await connection.close()


async def eventually(check, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_publishing_the_same_event_id_twice_is_stored_once(nc: NATS) -> None:
    """The envelope id is Nats-Msg-Id: a retried publish inside the window is a duplicate."""
    bus = Bus(nc, source="t", request_timeout=2)
    event = CanaryEvent(canary_id="dup")
    message_id = uuid.uuid4().hex
    first = await bus.publish(CANARY, event, MessageContext(), message_id=message_id)
    second = await bus.publish(CANARY, event, MessageContext(), message_id=message_id)
    assert not first.duplicate
    assert second.duplicate
    assert second.seq == first.seq


async def test_events_are_delivered_to_the_handler_typed(nc: NATS) -> None:
    """A published event reaches the consumer's handler as its typed payload with delivery facts."""
    seen: list[tuple[CanaryEvent, Delivery]] = []

    async def handler(event: CanaryEvent, _ctx: MessageContext, delivery: Delivery) -> bool:
        seen.append((event, delivery))
        return True

    consumer = EventConsumer(
        nc.jetstream(), nc, AgentName.LEARNING, CANARY, handler, SETTINGS, max_concurrency=4
    )
    await consumer.start()
    try:
        await Bus(nc, source="t", request_timeout=2).publish(
            CANARY, CanaryEvent(canary_id="a1"), MessageContext()
        )
        assert await eventually(lambda: len(seen) == 1)
    finally:
        await consumer.stop(2)
    event, delivery = seen[0]
    assert event.canary_id == "a1"
    assert delivery.attempt == 1
    assert delivery.consumer == "learning--mesh-canary"


async def test_failing_handler_is_retried_then_dead_lettered(nc: NATS) -> None:
    """A handler that always fails is tried max_deliver times, then the event lands in the DLQ stream."""
    attempts: list[int] = []

    async def handler(_event: CanaryEvent, _ctx: MessageContext, delivery: Delivery) -> bool:
        attempts.append(delivery.attempt)
        raise RuntimeError("downstream is broken")

    js = nc.jetstream()
    consumer = EventConsumer(js, nc, AgentName.MONITORING, CANARY, handler, SETTINGS, max_concurrency=4)
    await consumer.start()
    dead = await js.subscribe(f"{CANARY.dlq_subject}", stream=SETTINGS.dlq_stream, ordered_consumer=True)
    try:
        await Bus(nc, source="t", request_timeout=2).publish(
            CANARY, CanaryEvent(canary_id="bad"), MessageContext()
        )
        letter = await dead.next_msg(timeout=15)
    finally:
        await consumer.stop(2)
    assert attempts == [1, 2, 3]
    assert letter.headers is not None
    assert letter.headers[DLQ_REASON_HEADER] == "max deliveries reached"
    assert b'"canary_id":"bad"' in letter.data


async def test_a_permanent_failure_is_dead_lettered_at_once_and_does_not_block_the_next(
    nc: NATS, postgres_dsn: str
) -> None:
    """A handler failing on bad data (PostgreSQL refusing a NUL in jsonb) is not retried: one dead
    letter with the store's reason and one delivery, and the event published after it is handled."""
    attempts: dict[str, list[int]] = {}
    conn = await asyncpg.connect(postgres_dsn)

    async def handler(event: CanaryEvent, _ctx: MessageContext, delivery: Delivery) -> bool:
        attempts.setdefault(event.canary_id, []).append(delivery.attempt)
        note = "a\u0000b" if event.canary_id == "poison" else "fine"
        await conn.execute("SELECT $1::jsonb", json.dumps({"note": note}))
        return True

    js = nc.jetstream()
    # An ack deadline a loaded machine cannot miss: a second delivery here may only come from a retry.
    patient = SETTINGS.model_copy(update={"ack_wait_seconds": 15})
    consumer = EventConsumer(js, nc, AgentName.MONITORING, CANARY, handler, patient, max_concurrency=1)
    await consumer.start()
    dead = await js.subscribe(CANARY.dlq_subject, stream=SETTINGS.dlq_stream, ordered_consumer=True)
    bus = Bus(nc, source="t", request_timeout=2)
    try:
        await bus.publish(CANARY, CanaryEvent(canary_id="poison"), MessageContext())
        await bus.publish(CANARY, CanaryEvent(canary_id="behind"), MessageContext())
        letter = await dead.next_msg(timeout=10)
        assert await eventually(lambda: "behind" in attempts)
        await asyncio.sleep(SETTINGS.backoff_seconds[-1] * 3)  # room for a retry, had there been one
        with pytest.raises(nats.errors.TimeoutError):
            await dead.next_msg(timeout=0.5)
    finally:
        await consumer.stop(2)
        await conn.close()
    assert attempts == {"poison": [1], "behind": [1]}
    headers = letter.headers or {}
    assert headers[DLQ_REASON_HEADER].startswith("UntranslatableCharacterError: "), headers
    assert headers[DLQ_DELIVERIES_HEADER] == "1"
    assert b'"canary_id":"poison"' in letter.data


async def test_a_transient_failure_is_retried_and_then_succeeds(nc: NATS) -> None:
    """A lost database connection is retried with backoff; the next delivery succeeds and nothing
    reaches the DLQ."""
    attempts: list[int] = []

    async def handler(_event: CanaryEvent, _ctx: MessageContext, delivery: Delivery) -> bool:
        attempts.append(delivery.attempt)
        if delivery.attempt == 1:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        return True

    js = nc.jetstream()
    consumer = EventConsumer(js, nc, AgentName.LEARNING, CANARY, handler, SETTINGS, max_concurrency=4)
    await consumer.start()
    dead = await js.subscribe(CANARY.dlq_subject, stream=SETTINGS.dlq_stream, ordered_consumer=True)
    try:
        await Bus(nc, source="t", request_timeout=2).publish(
            CANARY, CanaryEvent(canary_id="blip"), MessageContext()
        )
        assert await eventually(lambda: attempts == [1, 2])
        with pytest.raises(nats.errors.TimeoutError):
            await dead.next_msg(timeout=1)
    finally:
        await consumer.stop(2)
    assert attempts == [1, 2]


async def test_malformed_event_goes_to_the_dlq_at_once(nc: NATS) -> None:
    """An event that is not a valid envelope is not retried: it is dead-lettered with the reason."""
    calls: list[int] = []

    async def handler(_event: CanaryEvent, _ctx: MessageContext, _delivery: Delivery) -> bool:
        calls.append(1)
        return True

    js = nc.jetstream()
    consumer = EventConsumer(js, nc, AgentName.SUPPLY_CHAIN, CANARY, handler, SETTINGS, max_concurrency=4)
    await consumer.start()
    dead = await js.subscribe(f"{CANARY.dlq_subject}", stream=SETTINGS.dlq_stream, ordered_consumer=True)
    try:
        await js.publish(CANARY.subject, b"not an envelope", headers={MESSAGE_ID_HEADER: uuid.uuid4().hex})
        letter = await dead.next_msg(timeout=10)
    finally:
        await consumer.stop(2)
    assert calls == []
    assert letter.data == b"not an envelope"
    assert "not a valid envelope" in (letter.headers or {})[DLQ_REASON_HEADER]


async def test_a_slow_message_does_not_hold_back_the_ones_fetched_after_it(nc: NATS) -> None:
    """The consumer keeps fetching while a handler runs: a message published after a slow one is
    handled while the slow one still waits (the slow one here waits for exactly that)."""
    later_handled = asyncio.Event()
    handled: list[str] = []

    async def handler(event: CanaryEvent, _ctx: MessageContext, _delivery: Delivery) -> bool:
        if event.canary_id == "slow":
            with contextlib.suppress(TimeoutError):  # an answer either way, so no redelivery
                await asyncio.wait_for(later_handled.wait(), 3)
        else:
            later_handled.set()
        handled.append(event.canary_id)
        return True

    consumer = EventConsumer(
        nc.jetstream(), nc, AgentName.LEARNING, CANARY, handler, SETTINGS, max_concurrency=4
    )
    await consumer.start()
    bus = Bus(nc, source="t", request_timeout=2)
    try:
        await bus.publish(CANARY, CanaryEvent(canary_id="slow"), MessageContext())
        await asyncio.sleep(0.3)  # the slow one is fetched and waiting on its own
        await bus.publish(CANARY, CanaryEvent(canary_id="later"), MessageContext())
        assert await eventually(lambda: len(handled) == 2)
    finally:
        await consumer.stop(2)
    assert handled == ["later", "slow"]


class _LogRecorder:
    """Stands in for the module's structlog logger: records (level, event) of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, level: str):  # type: ignore[no-untyped-def]
        return lambda event, *_args, **_kw: self.calls.append((level, event))


class _PlainTimeoutFirst:
    """The real pull subscription, except that its first fetches raise asyncio's plain TimeoutError,
    as nats-py does when a lingering pull's deadline has passed before it is sent (an idle stream)."""

    def __init__(self, real: object, times: int) -> None:
        self._real = real
        self.left = times

    async def fetch(self, batch: int, timeout: float) -> list[object]:
        if self.left > 0:
            self.left -= 1
            raise TimeoutError  # asyncio.TimeoutError is the builtin since 3.11
        return await self._real.fetch(batch, timeout=timeout)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


async def test_a_plain_timeout_of_an_idle_fetch_is_an_empty_fetch(
    nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle consumer's fetch ending in a plain TimeoutError logs no warning and waits no second."""
    from shared.bus import events

    recorder = _LogRecorder()
    monkeypatch.setattr(events, "log", recorder)
    seen: list[float] = []

    async def handler(_event: CanaryEvent, _ctx: MessageContext, _delivery: Delivery) -> bool:
        seen.append(time.monotonic())
        return True

    consumer = EventConsumer(
        nc.jetstream(), nc, AgentName.LEARNING, CANARY, handler, SETTINGS, max_concurrency=4
    )
    await consumer.start()
    wrapped = _PlainTimeoutFirst(consumer._subscription, times=5)
    consumer._subscription = wrapped  # type: ignore[assignment]
    try:
        assert await eventually(lambda: wrapped.left == 0, timeout=3)
        published = time.monotonic()
        await Bus(nc, source="t", request_timeout=2).publish(
            CANARY, CanaryEvent(canary_id="idle"), MessageContext()
        )
        assert await eventually(lambda: len(seen) == 1)
    finally:
        await consumer.stop(2)
    assert [call for call in recorder.calls if call[0] in ("warning", "error", "exception")] == []
    assert seen[0] - published < 2.0
