"""Accepting a webhook delivery at the edge: verify, record, queue, answer 202 fast.

Only verification and one INSERT happen before the answer; applying the delivery is the
consumer's job (GitHub wants a 2xx within 10 s and does not retry by itself).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from services.webhooks import deliveries
from services.webhooks.signature import verify_signature
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.messages.envelope import ErrorCode
from shared.messages.github import WebhookAccepted, WebhookReceived
from shared.messages.registry import GITHUB_WEBHOOK_RECEIVED

# GitHub caps webhook payloads at 25 MB.
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024


class WebhookRejected(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


def parse_delivery(
    endpoint: Literal["app", "marketplace"], headers: Mapping[str, str], body: bytes, secrets: Sequence[str]
) -> deliveries.IncomingDelivery:
    """Check the signature first (nothing unsigned is even parsed), then headers and JSON."""
    problem = verify_signature(
        body, headers.get("X-Hub-Signature-256"), headers.get("X-Hub-Signature"), secrets
    )
    if problem is not None:
        raise WebhookRejected(ErrorCode.UNAUTHENTICATED, problem.value)
    event = _required_header(headers, "X-GitHub-Event")
    guid = _required_header(headers, "X-GitHub-Delivery")
    hook_id = _optional_header(headers, "X-GitHub-Hook-ID") or "unknown"
    try:
        payload: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WebhookRejected(ErrorCode.BAD_REQUEST, f"the body is not JSON: {error}") from error
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
    )


async def accept(
    pool: Any, bus: Bus, incoming: deliveries.IncomingDelivery, ctx: MessageContext
) -> WebhookAccepted:
    """Record the delivery and queue it for processing (unless it was already applied)."""
    async with pool.acquire() as conn:
        recorded = await deliveries.record(conn, incoming)
    if recorded.disposition == "done":
        return WebhookAccepted(delivery_id=recorded.delivery_id, guid=incoming.guid, status="duplicate")
    # The message id names the attempt: a "pending" redelivery republishes the same id (deduped by
    # JetStream, then by the consumer's inbox), a retry of a failed delivery gets a fresh one.
    await bus.publish(
        GITHUB_WEBHOOK_RECEIVED,
        WebhookReceived(
            delivery_id=recorded.delivery_id,
            endpoint=incoming.endpoint,
            hook_id=incoming.hook_id,
            guid=incoming.guid,
            event=incoming.event,
            action=incoming.action,
            attempt=recorded.attempt,
        ),
        ctx,
        message_id=f"gh:{recorded.delivery_id}:{recorded.attempt}",
    )
    status: Literal["queued", "requeued"] = "requeued" if recorded.disposition == "retry" else "queued"
    return WebhookAccepted(delivery_id=recorded.delivery_id, guid=incoming.guid, status=status)
