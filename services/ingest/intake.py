"""The edge's side of token-event ingest: validate, count against the plan, make durable, answer.

Accepted means stored in JetStream: the answer is sent only after every message of the batch has
its publish acknowledgement. The plan's monthly limit is counted before publishing (one atomic
upsert, so replicas never overshoot) and given back for anything that could not be published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from services.identity.plans import PlanBook
from services.identity.principals import team_of
from services.ingest import otlp
from services.ingest.token_events import ValidatedBatch, message_chunks, validate_events
from services.marketplace.entitlements import LimitName
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode
from shared.messages.registry import TOKEN_EVENTS_ACCEPTED
from shared.messages.telemetry import IngestResult, TokenEvent, TokenEventsAccepted
from shared.metrics import TOKEN_EVENTS_INGESTED_TOTAL


async def ingest(
    pool: Any, plans: PlanBook, bus: Bus, ctx: MessageContext, raw_events: Sequence[Any]
) -> IngestResult:
    """Our JSON batches: each event validated on its own, a batch with no valid event is a 422."""
    received_at = datetime.now(UTC)
    batch = validate_events(raw_events, received_at)
    TOKEN_EVENTS_INGESTED_TOTAL.labels("rejected").inc(len(batch.rejected))
    if not batch.accepted:
        raise AgentError(
            ErrorCode.VALIDATION_FAILED,
            f"none of the {len(raw_events)} events is valid",
            [rejection.model_dump() for rejection in batch.rejected],
        )
    return await _accept(pool, plans, bus, ctx, batch, received_at)


async def ingest_otlp(
    pool: Any,
    plans: PlanBook,
    bus: Bus,
    ctx: MessageContext,
    body: bytes,
    content_type: str,
    encoding: str | None,
) -> tuple[bytes, str]:
    """OTLP/HTTP traces: GenAI spans become token events; other spans are ignored, unmappable GenAI
    spans reported in `partial_success` as the OTLP specification asks. Answers in the request's
    encoding (protobuf or JSON)."""
    try:
        request = otlp.decode_request(body, content_type, encoding)
    except otlp.UnsupportedMediaType as error:
        raise AgentError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, error.message) from error
    except otlp.RequestTooLarge as error:
        raise AgentError(ErrorCode.PAYLOAD_TOO_LARGE, error.message) from error
    except otlp.OtlpRequestError as error:
        raise AgentError(ErrorCode.BAD_REQUEST, error.message) from error
    received_at = datetime.now(UTC)
    mapping = otlp.spans_to_events(request, now=received_at)
    reasons = [f"span {ref.span_id}: {reason}" for ref, reason in mapping.rejected]
    if mapping.events:
        batch = validate_events([event.model_dump() for _, event in mapping.events], received_at)
        reasons += [f"span {mapping.events[r.index][0].span_id}: {r.errors}" for r in batch.rejected]
        if batch.accepted:
            await _accept(pool, plans, bus, ctx, batch, received_at)
    TOKEN_EVENTS_INGESTED_TOTAL.labels("rejected").inc(len(reasons))
    answer_type = otlp.response_content_type(content_type)
    return otlp.encode_response(answer_type, len(reasons), "; ".join(reasons[:5])), answer_type


async def _accept(
    pool: Any, plans: PlanBook, bus: Bus, ctx: MessageContext, batch: ValidatedBatch, received_at: datetime
) -> IngestResult:
    principal = ctx.principal
    assert principal is not None  # ingest routes are not public
    team_id = team_of(principal)
    async with pool.acquire() as conn:
        await plans.consume_monthly(
            conn, team_id, LimitName.MONTHLY_TOKEN_EVENTS, len(batch.accepted), received_at
        )
    try:
        await _publish(bus, ctx, team_id, principal.api_key_id, received_at, batch.accepted)
    except BaseException:
        async with pool.acquire() as conn:
            await plans.refund_monthly(
                conn, team_id, LimitName.MONTHLY_TOKEN_EVENTS, len(batch.accepted), received_at
            )
        raise
    TOKEN_EVENTS_INGESTED_TOTAL.labels("accepted").inc(len(batch.accepted))
    return IngestResult(
        accepted=len(batch.accepted),
        rejected=len(batch.rejected),
        ids=[event.id for event in batch.accepted],
        errors=batch.rejected,
    )


async def _publish(
    bus: Bus,
    ctx: MessageContext,
    team_id: str,
    api_key_id: str | None,
    received_at: datetime,
    events: list[TokenEvent],
) -> None:
    # All messages of the batch in flight at once: the answer waits for the slowest ack, not the sum.
    await asyncio.gather(
        *(
            bus.publish(
                TOKEN_EVENTS_ACCEPTED,
                TokenEventsAccepted(api_key_id=api_key_id, received_at=received_at, events=chunk),
                ctx,
                message_id=message_id,
            )
            for message_id, chunk in message_chunks(team_id, events)
        )
    )
