"""Typed request/reply and event publishing over one NATS connection."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import PubAck
from pydantic import BaseModel

from shared.bus.codec import (
    DecodeError,
    decode_envelope,
    decode_message,
    decode_payload,
    encode,
    envelope_for,
    headers_for,
)
from shared.bus.context import MESSAGE_ID_HEADER, TIMEOUT_HEADER, MessageContext
from shared.bus.errors import PublishOutcomeUnknown, RemoteError, RequestTimeout, ServiceUnavailable
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.registry import Endpoint, EventType, Notice
from shared.metrics import EVENTS_PUBLISHED_TOTAL, RPC_CLIENT_SECONDS

log = structlog.get_logger("mno.bus")

RequestT = TypeVar("RequestT", bound=BaseModel)
ResponseT = TypeVar("ResponseT", bound=BaseModel)
EventT = TypeVar("EventT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """A durable event encoded for JetStream: its envelope's bytes and headers (correlation id,
    trace, message type, and its id as `Nats-Msg-Id`), kept whole so that it can be sent later
    exactly as it would have been sent now."""

    event: str  # the event's registry name (metrics)
    subject: str
    message_id: str
    data: bytes
    headers: Mapping[str, str]


class Bus:
    """What a process uses to talk to the mesh. `source` names the sender in every envelope."""

    def __init__(self, nc: NATS, *, source: str, request_timeout: float) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.source = source
        self.request_timeout = request_timeout

    async def request(
        self,
        endpoint: Endpoint[RequestT, ResponseT],
        payload: RequestT,
        ctx: MessageContext,
        *,
        timeout: float | None = None,
    ) -> ResponseT:
        """Send a request and return the typed reply, or raise a `BusError` at once:
        `ServiceUnavailable` when nobody serves it, `RequestTimeout`, or the agent's `RemoteError`."""
        timeout = timeout or self.request_timeout
        envelope = envelope_for(payload, ctx, self.source)
        started = time.perf_counter()
        outcome = "ok"
        try:
            try:
                headers = {**headers_for(envelope, ctx), TIMEOUT_HEADER: str(max(1, round(timeout * 1000)))}
                reply = await self.nc.request(
                    endpoint.subject, encode(envelope), timeout=timeout, headers=headers
                )
            except nats.errors.NoRespondersError as error:
                outcome = "no_responders"
                raise ServiceUnavailable(endpoint.subject) from error
            except nats.errors.TimeoutError as error:
                outcome = "timeout"
                raise RequestTimeout(endpoint.subject, timeout) from error
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError) as error:
                outcome = "disconnected"
                raise ServiceUnavailable(endpoint.subject) from error
            try:
                answer = decode_envelope(reply.data)
            except DecodeError as error:
                outcome = "bad_reply"
                raise RemoteError(
                    ErrorBody(code=ErrorCode.INTERNAL, message=f"{endpoint.subject} sent an unreadable reply")
                ) from error
            if answer.error is not None:
                outcome = answer.error.code.value
                raise RemoteError(answer.error)
            try:
                return decode_payload(answer, endpoint.response)
            except DecodeError as error:
                outcome = "bad_reply"
                raise RemoteError(error.body) from error
        finally:
            RPC_CLIENT_SECONDS.labels(endpoint.subject, outcome).observe(time.perf_counter() - started)

    def encode_event(
        self,
        event: EventType[EventT],
        payload: EventT,
        ctx: MessageContext,
        *,
        message_id: str | None = None,
    ) -> OutgoingEvent:
        """The event as it goes on the wire (envelope bytes and headers, with the context's
        correlation id and trace), for `publish_encoded` now or later (`shared/db/outbox.py`)."""
        envelope = envelope_for(payload, ctx, self.source, message_id=message_id)
        headers = {**headers_for(envelope, ctx), MESSAGE_ID_HEADER: envelope.id}
        return OutgoingEvent(
            event=event.name,
            subject=event.subject,
            message_id=envelope.id,
            data=encode(envelope),
            headers=headers,
        )

    async def publish(
        self,
        event: EventType[EventT],
        payload: EventT,
        ctx: MessageContext,
        *,
        message_id: str | None = None,
        timeout: float | None = None,
    ) -> PubAck:
        """Publish a durable event; returns once JetStream has stored it.

        The envelope id doubles as `Nats-Msg-Id`, so a retried publish of the same event inside the
        stream's duplicate window is stored once; consumers dedupe by the same id beyond it.
        """
        return await self.publish_encoded(
            self.encode_event(event, payload, ctx, message_id=message_id), timeout=timeout
        )

    async def publish_encoded(self, outgoing: OutgoingEvent, *, timeout: float | None = None) -> PubAck:
        """Publish an event encoded by `encode_event`, byte for byte; see `publish`."""
        try:
            ack = await self.js.publish(
                outgoing.subject,
                outgoing.data,
                timeout=timeout or self.request_timeout,
                headers=dict(outgoing.headers),
            )
        # Nothing was stored: nats-py reports a subject no stream takes as NoStreamResponseError (not
        # NoRespondersError), a stream that cannot store (full, storage failing) as a JetStream 503,
        # and a message it could not even send (connection closed, reconnect buffer full) as such.
        except (
            nats.errors.NoRespondersError,
            nats.js.errors.NoStreamResponseError,
            nats.js.errors.ServiceUnavailableError,
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionDrainingError,
            nats.errors.OutboundBufferLimitError,
        ) as error:
            raise ServiceUnavailable(f"the stream for {outgoing.subject}") from error
        except nats.errors.TimeoutError as error:
            # No ack is not "not stored": a message buffered while reconnecting is sent, and stored,
            # once the connection is back. The caller must say so, not report a failure.
            raise PublishOutcomeUnknown(outgoing.subject, timeout or self.request_timeout) from error
        EVENTS_PUBLISHED_TOTAL.labels(outgoing.event).inc()
        return ack

    async def notify(self, notice: Notice[EventT], payload: EventT, ctx: MessageContext) -> None:
        """Broadcast a notice (core NATS: no ack, not stored; see `Notice`)."""
        envelope = envelope_for(payload, ctx, self.source)
        await self.nc.publish(notice.subject, encode(envelope), headers=headers_for(envelope, ctx))

    async def listen(
        self, notice: Notice[EventT], handler: Callable[[EventT], Awaitable[None]]
    ) -> Subscription:
        """Every replica's own subscription to a notice; an undecodable one is logged and skipped."""

        async def receive(msg: Msg) -> None:
            try:
                _, payload = decode_message(msg.data, notice.payload)
            except DecodeError as error:
                log.warning("notice not understood", subject=msg.subject, error=error.body.message)
                return
            await handler(payload)

        return await self.nc.subscribe(notice.subject, cb=receive)
