"""Durable event consumption: pull consumers, explicit acks, bounded redelivery, a dead-letter path.

Delivery is at-least-once; handlers make it effectively-once by recording the envelope id in the
same transaction as their effects (see `shared.db.inbox`). A message whose handler keeps failing is
retried with the configured backoff up to `max_deliver` times; JetStream then announces it on a
max-deliveries advisory, and the forwarder copies it, by stream sequence, to the DLQ stream.
A message that can never succeed (not an envelope, invalid payload, or a handler failure that
`shared.bus.failures.classify` calls permanent: bad data, a violated constraint) goes to the DLQ at
once with its reason; only transient failures are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import BaseModel

from shared.bus.codec import DecodeError, context_from, decode_message
from shared.bus.context import MESSAGE_ID_HEADER, MessageContext
from shared.bus.failures import Disposition, classify, decode_reason, reason_of
from shared.config.models import JetStreamSettings
from shared.messages.agents import AgentName
from shared.messages.registry import DLQ_PREFIX, EVENTS_PREFIX, EventType
from shared.metrics import EVENT_HANDLER_SECONDS, EVENTS_TOTAL

EventT = TypeVar("EventT", bound=BaseModel)

DLQ_REASON_HEADER = "Mno-Dlq-Reason"
DLQ_CONSUMER_HEADER = "Mno-Dlq-Consumer"
DLQ_SEQUENCE_HEADER = "Mno-Dlq-Stream-Sequence"
DLQ_SUBJECT_HEADER = "Mno-Dlq-Original-Subject"
# How many times the message was delivered before it was given up: 1 for a permanent failure.
DLQ_DELIVERIES_HEADER = "Mno-Dlq-Deliveries"

log = structlog.get_logger("mno.bus.events")


@dataclass(frozen=True)
class Delivery:
    """What the handler may want to know about this delivery of the event."""

    message_id: str
    consumer: str
    attempt: int
    stream_sequence: int


# A handler returns True when it applied the event, False when it had already been applied.
EventHandler = Callable[[EventT, MessageContext, Delivery], Awaitable[bool]]


def consumer_name(agent: AgentName, event: EventType[Any]) -> str:
    return f"{agent.value}--{event.name.replace('.', '-')}"


class EventConsumer(Generic[EventT]):
    """One durable pull consumer: replicas of an agent bind the same durable and share its messages."""

    def __init__(
        self,
        js: JetStreamContext,
        nc: NATS,
        agent: AgentName,
        event: EventType[EventT],
        handler: EventHandler[EventT],
        settings: JetStreamSettings,
        *,
        max_concurrency: int,
    ) -> None:
        self._js = js
        self._nc = nc
        self.agent = agent
        self.event = event
        self._handler = handler
        self._settings = settings
        self._max_concurrency = max_concurrency
        self.name = consumer_name(agent, event)
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._advisories: Subscription | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def consumer_config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.name,
            name=self.name,
            filter_subject=self.event.subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=float(self._settings.ack_wait_seconds),
            max_deliver=self._settings.max_deliver,
            max_ack_pending=max(self._max_concurrency * 4, self._settings.fetch_batch),
        )

    async def start(self) -> None:
        # Without an explicit action the server creates the durable or updates its configuration,
        # so every replica can call this at start.
        await self._js.add_consumer(self._settings.events_stream, self.consumer_config())
        self._subscription = await self._js.pull_subscribe_bind(
            durable=self.name, stream=self._settings.events_stream
        )
        advisory = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self._settings.events_stream}.{self.name}"
        self._advisories = await self._nc.subscribe(
            advisory, queue=f"dlq-{self.name}", cb=self._forward_dead_letter
        )
        self._loop_task = asyncio.create_task(self._run(), name=f"consumer {self.name}")

    async def stop(self, timeout: float) -> None:
        """Stop fetching and let the batch in hand finish; unacked messages go back to the stream."""
        self._stopping.set()
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(self._loop_task, timeout)
            except TimeoutError:
                log.warning("consumer did not finish its batch in time", consumer=self.name)
        if self._advisories is not None:
            with contextlib.suppress(Exception):
                await self._advisories.unsubscribe()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    async def _run(self) -> None:
        assert self._subscription is not None
        # Messages are handled concurrently (handlers are idempotent and independent) and the next
        # fetch does not wait for a whole batch to finish: a slow message (say, one waiting for a
        # large ClickHouse insert) holds one slot of `max_concurrency`, not the whole consumer.
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                if len(in_flight) >= self._max_concurrency:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                room = min(self._settings.fetch_batch, self._max_concurrency - len(in_flight))
                try:
                    messages = await self._subscription.fetch(room, timeout=1.0)
                except TimeoutError:
                    # An empty fetch. nats-py raises its own TimeoutError (a subclass) or, when a
                    # lingering pull's deadline has passed before the request, asyncio's plain one.
                    continue
                except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
                    return
                except Exception as error:
                    log.warning("fetch failed; retrying", consumer=self.name, error=repr(error))
                    await asyncio.sleep(1.0)
                    continue
                for msg in messages:
                    task = asyncio.create_task(self._process(msg))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        finally:
            # Stopping: the messages in hand finish (or, if cancelled, go back unacked).
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _process(self, msg: Msg) -> None:
        started = time.perf_counter()
        metadata = msg.metadata
        outcome = "processed"
        try:
            envelope, payload = decode_message(msg.data, self.event.payload)
        except DecodeError as error:
            await self._dead_letter_now(msg, decode_reason(error.body), attempt=metadata.num_delivered)
            self._count("rejected", started)
            return
        ctx = context_from(envelope, msg.headers)
        delivery = Delivery(
            message_id=envelope.id,
            consumer=self.name,
            attempt=metadata.num_delivered,
            stream_sequence=metadata.sequence.stream,
        )
        with structlog.contextvars.bound_contextvars(
            **ctx.log_fields(), message_id=envelope.id, event=self.event.name, attempt=delivery.attempt
        ):
            heartbeat = asyncio.create_task(self._keep_alive(msg))
            try:
                applied = await self._handler(payload, ctx, delivery)
            except Exception as error:
                if classify(error) is Disposition.PERMANENT:
                    # Every redelivery would fail alike: one dead letter now, with why.
                    outcome = "dead_lettered"
                    log.exception("event handler failed permanently")
                    await self._dead_letter_now(msg, reason_of(error), attempt=delivery.attempt)
                else:
                    outcome = "retried"
                    log.exception("event handler failed; will retry")
                    await self._retry_later(msg, delivery.attempt)
            else:
                await msg.ack()
                outcome = "processed" if applied else "duplicate"
                log.info(
                    "handled event",
                    outcome=outcome,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )
            finally:
                heartbeat.cancel()
        self._count(outcome, started)

    async def _keep_alive(self, msg: Msg) -> None:
        """Tell JetStream a slow handler is still working, so the message is not redelivered under it."""
        interval = max(self._settings.ack_wait_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _retry_later(self, msg: Msg, attempt: int) -> None:
        backoff = self._settings.backoff_seconds
        delay = backoff[min(attempt - 1, len(backoff) - 1)] if backoff else None
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay)

    async def _dead_letter_now(self, msg: Msg, reason: str, *, attempt: int) -> None:
        log.warning("event rejected to the dead-letter stream", consumer=self.name, reason=reason)
        try:
            await self._publish_dead_letter(
                msg.subject, msg.data, msg.headers or {}, reason, msg.metadata.sequence.stream, attempt
            )
        except Exception as error:
            # The DLQ could not take it (the bus is failing): keep the message, try again later.
            log.warning("dead letter not stored; will retry", consumer=self.name, error=repr(error))
            await self._retry_later(msg, attempt)
            return
        with contextlib.suppress(Exception):
            await msg.term()

    async def _forward_dead_letter(self, advisory: Msg) -> None:
        try:
            sequence = int(json.loads(advisory.data)["stream_seq"])
            original = await self._js.get_msg(self._settings.events_stream, sequence)
        except Exception as error:
            log.error("could not read a dead-lettered event", consumer=self.name, error=repr(error))
            return
        headers = {k: v for k, v in (original.headers or {}).items() if isinstance(v, str)}
        await self._publish_dead_letter(
            original.subject or "",
            original.data or b"",
            headers,
            "max deliveries reached",
            sequence,
            self._settings.max_deliver,
        )
        EVENTS_TOTAL.labels(self.agent.value, self.event.name, "dead_lettered").inc()
        log.error("event dead-lettered after max deliveries", consumer=self.name, stream_sequence=sequence)

    async def _publish_dead_letter(
        self, subject: str, data: bytes, headers: dict[str, str], reason: str, sequence: int, deliveries: int
    ) -> None:
        dlq_subject = DLQ_PREFIX + subject.removeprefix(EVENTS_PREFIX)
        dlq_headers = {
            **headers,
            DLQ_REASON_HEADER: reason,
            DLQ_CONSUMER_HEADER: self.name,
            DLQ_SEQUENCE_HEADER: str(sequence),
            DLQ_SUBJECT_HEADER: subject,
            DLQ_DELIVERIES_HEADER: str(deliveries),
            # One dead letter per (consumer, stream message), however many replicas saw the advisory.
            MESSAGE_ID_HEADER: f"dlq:{self.name}:{sequence}",
        }
        await self._js.publish(dlq_subject, data, stream=self._settings.dlq_stream, headers=dlq_headers)

    def _count(self, outcome: str, started: float) -> None:
        EVENTS_TOTAL.labels(self.agent.value, self.event.name, outcome).inc()
        EVENT_HANDLER_SECONDS.labels(self.agent.value, self.event.name, outcome).observe(
            time.perf_counter() - started
        )
