"""Accepting a webhook delivery at the edge: verify, record, queue, answer 202 fast.

Only verification and one INSERT happen before the answer; applying the delivery is the
consumer's job (GitHub wants a 2xx within 10 s and does not retry by itself).

Before its signature is checked a body is anyone's: it is verified as it streams in, and all
requests together may hold at most `UNSIGNED_BYTES_IN_FLIGHT` unsigned bytes (a request that
would pass it gets 503 before more of it is read), so anonymous callers cannot make the edge
buffer 25 MB each.
"""

from __future__ import annotations

import asyncio
import hashlib
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import structlog

from services.gateway.json_body import JsonRefused, read_json
from services.webhooks import deliveries
from services.webhooks.signature import StreamingVerifier, check_header, verify_signature
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.messages.envelope import ErrorCode
from shared.messages.github import WebhookAccepted, WebhookReceived
from shared.messages.registry import GITHUB_WEBHOOK_RECEIVED
from shared.metrics import WEBHOOK_REFUSED_TOTAL

# GitHub caps webhook payloads at 25 MB.
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024
# Unsigned bytes all webhook requests of this process may hold at once: one full-size delivery
# and room for small ones beside it.
UNSIGNED_BYTES_IN_FLIGHT = 32 * 1024 * 1024
# GitHub gives up after 10 s; a body still trickling in after this holds the budget for nothing.
BODY_ARRIVAL_SECONDS = 20.0
_CHUNK = 64 * 1024

FORM = "application/x-www-form-urlencoded"

log = structlog.get_logger("mno.webhooks")


class WebhookRejected(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UnsignedBytes:
    """The budget of body bytes held by requests whose signature is not checked yet. The event
    loop is the only writer, so a counter is enough."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.capacity:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


UNSIGNED = UnsignedBytes(UNSIGNED_BYTES_IN_FLIGHT)


class BodyStream(Protocol):
    """What is read of a request body (aiohttp's `request.content`)."""

    async def read(self, n: int = -1) -> bytes: ...


def _optional_header(headers: Mapping[str, str], name: str, max_length: int = 200) -> str | None:
    value = headers.get(name)
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > max_length or not value.isprintable():
        raise WebhookRejected(ErrorCode.BAD_REQUEST, f"the {name} header is malformed")
    return value


def _required_header(headers: Mapping[str, str], name: str) -> str:
    value = _optional_header(headers, name, max_length=100)
    if value is None:
        raise WebhookRejected(ErrorCode.BAD_REQUEST, f"the {name} header is missing")
    return value


def _unsigned(problem: str) -> WebhookRejected:
    return WebhookRejected(ErrorCode.UNAUTHENTICATED, problem)


async def read_signed_body(
    content: BodyStream,
    headers: Mapping[str, str],
    content_length: int | None,
    secrets: Sequence[str],
    *,
    budget: UnsignedBytes = UNSIGNED,
    limit: int = MAX_WEBHOOK_BYTES,
    arrival_seconds: float = BODY_ARRIVAL_SECONDS,
) -> bytes:
    """The body, read chunk by chunk into the HMACs of `secrets`, once its signature matched.

    A missing or malformed signature header is refused before the body is read; the body's bytes
    count against `budget` (a declared Content-Length at once, else as chunks arrive) until the
    signature is checked, and a request the budget cannot take gets 503."""
    signature_256, signature_sha1 = headers.get("X-Hub-Signature-256"), headers.get("X-Hub-Signature")
    problem = check_header(signature_256, signature_sha1)
    if problem is not None:
        raise _unsigned(problem.value)
    if content_length is not None and content_length > limit:
        raise WebhookRejected(ErrorCode.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes")
    held = 0

    def hold(size: int) -> None:
        nonlocal held
        if not budget.take(size):
            WEBHOOK_REFUSED_TOTAL.labels("unverified_budget").inc()
            log.warning("unsigned webhook bytes over budget", held=budget.held, capacity=budget.capacity)
            raise WebhookRejected(
                ErrorCode.UNAVAILABLE, "too many unverified webhook bytes in flight; send again shortly"
            )
        held += size

    verifier = StreamingVerifier(secrets)
    chunks: list[bytes] = []
    size = 0
    try:
        if content_length is not None:
            hold(content_length)
        async with asyncio.timeout(arrival_seconds):
            while chunk := await content.read(min(_CHUNK, limit + 1 - size)):
                size += len(chunk)
                if size > limit:
                    raise WebhookRejected(
                        ErrorCode.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes"
                    )
                if content_length is None:
                    hold(len(chunk))
                verifier.update(chunk)
                chunks.append(chunk)
    except TimeoutError as error:
        raise WebhookRejected(
            ErrorCode.BAD_REQUEST, f"the body did not arrive within {arrival_seconds:g} s"
        ) from error
    finally:
        budget.give_back(held)
    problem = verifier.verify(signature_256, signature_sha1)
    if problem is not None:
        raise _unsigned(problem.value)
    return b"".join(chunks)


def _signed_document(headers: Mapping[str, str], body: bytes) -> bytes:
    """The JSON document a verified body carries: the body itself, or the `payload` field of a
    form-encoded body (the Marketplace listing's webhook offers that format)."""
    media_type = headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
    if media_type == FORM:
        try:
            fields = urllib.parse.parse_qs(
                body.decode("utf-8"), strict_parsing=True, errors="strict", max_num_fields=16
            )
        except (UnicodeDecodeError, ValueError) as error:
            raise WebhookRejected(ErrorCode.BAD_REQUEST, f"the form body is malformed: {error}") from error
        payload = fields.get("payload", [])
        if len(payload) != 1:
            raise WebhookRejected(ErrorCode.BAD_REQUEST, "a form-encoded delivery carries one payload field")
        return payload[0].encode()
    if media_type in ("", "application/json") or media_type.endswith("+json"):
        return body
    raise WebhookRejected(
        ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"send the delivery as application/json or {FORM}, not {media_type}"
    )


def parse_verified(
    endpoint: Literal["app", "marketplace"], headers: Mapping[str, str], body: bytes
) -> deliveries.IncomingDelivery:
    """Headers and the JSON document of a body whose signature matched."""
    event = _required_header(headers, "X-GitHub-Event")
    guid = _required_header(headers, "X-GitHub-Delivery")
    hook_id = _optional_header(headers, "X-GitHub-Hook-ID") or "unknown"
    document = _signed_document(headers, body)
    try:
        payload: Any = read_json(document)
    except JsonRefused as error:
        raise WebhookRejected(ErrorCode.BAD_REQUEST, error.body.message) from error
    if not isinstance(payload, dict):
        raise WebhookRejected(ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    action = payload.get("action")
    return deliveries.IncomingDelivery(
        endpoint=endpoint,
        hook_id=hook_id,
        guid=guid,
        event=event,
        action=action if isinstance(action, str) else None,
        target_type=_optional_header(headers, "X-GitHub-Hook-Installation-Target-Type"),
        target_id=_optional_header(headers, "X-GitHub-Hook-Installation-Target-ID"),
        body=body,
        payload=payload,
        document_sha256=hashlib.sha256(document).digest(),
    )


def parse_delivery(
    endpoint: Literal["app", "marketplace"], headers: Mapping[str, str], body: bytes, secrets: Sequence[str]
) -> deliveries.IncomingDelivery:
    """A whole body: check the signature first (nothing unsigned is even parsed), then parse."""
    problem = verify_signature(
        body, headers.get("X-Hub-Signature-256"), headers.get("X-Hub-Signature"), secrets
    )
    if problem is not None:
        raise _unsigned(problem.value)
    return parse_verified(endpoint, headers, body)


async def receive(
    endpoint: Literal["app", "marketplace"],
    headers: Mapping[str, str],
    content: BodyStream,
    content_length: int | None,
    secrets: Sequence[str],
) -> deliveries.IncomingDelivery:
    """Read the body under the unsigned-bytes budget, verifying as it arrives, then parse it."""
    body = await read_signed_body(content, headers, content_length, secrets)
    return parse_verified(endpoint, headers, body)


async def accept(
    pool: Any, bus: Bus, incoming: deliveries.IncomingDelivery, ctx: MessageContext
) -> WebhookAccepted:
    """Record the delivery and queue it for processing (unless it was already applied)."""
    async with pool.acquire() as conn:
        recorded = await deliveries.record(conn, incoming)
    if recorded.disposition == "replay":
        WEBHOOK_REFUSED_TOTAL.labels("replay").inc()
        log.warning(
            "signed webhook body replayed under a new GUID; not applied",
            guid=incoming.guid,
            original_delivery_id=recorded.delivery_id,
            github_event=incoming.event,
        )
        return WebhookAccepted(delivery_id=recorded.delivery_id, guid=incoming.guid, status="replay")
    if recorded.disposition == "done":
        return WebhookAccepted(delivery_id=recorded.delivery_id, guid=incoming.guid, status="duplicate")
    await queue(bus, incoming_message(incoming, recorded), ctx)
    status: Literal["queued", "requeued"] = "requeued" if recorded.disposition == "retry" else "queued"
    return WebhookAccepted(delivery_id=recorded.delivery_id, guid=incoming.guid, status=status)


def incoming_message(incoming: deliveries.IncomingDelivery, recorded: deliveries.Recorded) -> WebhookReceived:
    return WebhookReceived(
        delivery_id=recorded.delivery_id,
        endpoint=incoming.endpoint,
        hook_id=incoming.hook_id,
        guid=incoming.guid,
        event=incoming.event,
        action=incoming.action,
        attempt=recorded.attempt,
    )


async def queue(bus: Bus, message: WebhookReceived, ctx: MessageContext) -> None:
    """Publish a delivery's attempt for the consumer.

    The message id names the attempt: a "pending" redelivery republishes the same id (deduped by
    JetStream, then by the consumer's inbox), a retry of a failed delivery gets a fresh one."""
    await bus.publish(
        GITHUB_WEBHOOK_RECEIVED, message, ctx, message_id=f"gh:{message.delivery_id}:{message.attempt}"
    )
