"""The edge's side of token-event ingest: validate, count against the plan and the budgets, make
durable, answer.

Accepted means stored in JetStream: the answer is sent only after every message of the batch has
its publish acknowledgement. The plan's monthly limit is counted before publishing (one atomic
upsert, so replicas never overshoot) and given back for anything refused by a budget or not
published. Budgets with a hard limit refuse the events they cannot take: by index when others of
the batch are accepted, as a whole 429 (with Retry-After) when none is (422 when every refusal is
for a model without a price: waiting would not help).

Each event of the answer is accepted, a duplicate or rejected. Duplicates are what the edge knows
synchronously (see `IngestResult`): a publish JetStream acknowledged as a duplicate, or an id the
budgets had counted before. Budget duplicates are still published: if the earlier attempt's publish
failed after admission, this is the copy that gets stored (JetStream or the consumer's id lookup
drops it otherwise). Duplicates are given back to the plan's monthly count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.identity.plans import PlanBook
from services.identity.principals import team_of
from services.ingest import otlp
from services.ingest.budget_gate import BudgetGate
from services.ingest.token_events import ValidatedBatch, message_chunks, validate_events
from services.marketplace.entitlements import LimitName
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.messages.budgets import Refusal, RefusalReason
from shared.messages.envelope import ErrorCode
from shared.messages.registry import TOKEN_EVENTS_ACCEPTED
from shared.messages.telemetry import (
    EventRejection,
    IngestResult,
    TokenEvent,
    TokenEventColumns,
    TokenEventsAccepted,
)
from shared.metrics import TOKEN_EVENTS_INGESTED_TOTAL


@dataclass(frozen=True)
class Intake:
    pool: Any
    plans: PlanBook
    bus: Bus
    budgets: BudgetGate


async def ingest(intake: Intake, ctx: MessageContext, raw_events: Sequence[Any]) -> IngestResult:
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
    return await _accept(intake, ctx, batch, received_at)


async def ingest_otlp(
    intake: Intake,
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
        errors = batch.rejected
        if batch.accepted:
            errors = (await _accept(intake, ctx, batch, received_at)).errors
        reasons += [f"span {mapping.events[e.index][0].span_id}: {e.errors}" for e in errors]
    TOKEN_EVENTS_INGESTED_TOTAL.labels("rejected").inc(len(reasons))
    answer_type = otlp.response_content_type(content_type)
    return otlp.encode_response(answer_type, len(reasons), "; ".join(reasons[:5])), answer_type


async def _accept(
    intake: Intake, ctx: MessageContext, batch: ValidatedBatch, received_at: datetime
) -> IngestResult:
    principal = ctx.principal
    assert principal is not None  # ingest routes are not public
    team_id = team_of(principal)
    metered = LimitName.MONTHLY_TOKEN_EVENTS
    async with intake.pool.acquire() as conn:
        await intake.plans.consume_monthly(conn, team_id, metered, len(batch.accepted), received_at)
    counted = len(batch.accepted)
    try:
        admission = await intake.budgets.admit(
            ctx, team_id, principal.api_key_id, batch.accepted, batch.positions
        )
        refused = {refusal.index: refusal for refusal in admission.refused}
        events = [e for e, p in zip(batch.accepted, batch.positions, strict=True) if p not in refused]
        if refused:
            async with intake.pool.acquire() as conn:
                await intake.plans.refund_monthly(conn, team_id, metered, len(refused), received_at)
            counted -= len(refused)
        ids = {position: event.id for event, position in zip(batch.accepted, batch.positions, strict=True)}
        if not events:
            raise _over_budget(admission.refused, batch.rejected, ids)
        stored_before = await _publish(intake.bus, ctx, team_id, principal.api_key_id, received_at, events)
    except BaseException:
        if counted:
            async with intake.pool.acquire() as conn:
                await intake.plans.refund_monthly(conn, team_id, metered, counted, received_at)
        raise
    known = set(admission.duplicates)
    duplicates = [
        event
        for event, position in zip(batch.accepted, batch.positions, strict=True)
        if position not in refused and (position in known or event.id in stored_before)
    ]
    if duplicates:
        async with intake.pool.acquire() as conn:
            await intake.plans.refund_monthly(conn, team_id, metered, len(duplicates), received_at)
    duplicate_ids = {event.id for event in duplicates}
    new = [event for event in events if event.id not in duplicate_ids]
    TOKEN_EVENTS_INGESTED_TOTAL.labels("accepted").inc(len(new))
    TOKEN_EVENTS_INGESTED_TOTAL.labels("duplicate").inc(len(duplicates))
    TOKEN_EVENTS_INGESTED_TOTAL.labels("over_budget").inc(len(refused))
    errors = [*batch.rejected, *(_refusal_error(r, ids.get(r.index)) for r in admission.refused)]
    errors.sort(key=lambda rejection: rejection.index)
    return IngestResult(
        accepted=len(new),
        rejected=len(errors),
        ids=[event.id for event in new],
        errors=errors,
        duplicates=len(duplicates),
        duplicate_ids=[event.id for event in duplicates],
    )


def _refusal_error(refusal: Refusal, event_id: str | None) -> EventRejection:
    return EventRejection(
        index=refusal.index,
        id=refusal.id or event_id,
        errors=[
            {
                "loc": "budget",
                "message": refusal.message,
                "type": refusal.reason.value,
                "budget_id": refusal.budget_id,
                "retry_after_seconds": refusal.retry_after_seconds,
            }
        ],
    )


def _over_budget(
    refusals: Sequence[Refusal], rejected: Sequence[EventRejection], ids: dict[int, str]
) -> AgentError:
    names = ", ".join(sorted({f"{r.budget_name!r}" for r in refusals}))
    details: list[dict[str, Any]] = [
        {
            "index": r.index,
            "id": r.id or ids.get(r.index),
            "budget_id": r.budget_id,
            "budget": r.budget_name,
            "message": r.message,
            "type": r.reason.value,
            "retry_after_seconds": r.retry_after_seconds,
        }
        for r in refusals
    ]
    details += [rejection.model_dump() for rejection in rejected]
    if all(r.reason is RefusalReason.UNPRICED_MODEL for r in refusals):
        # Waiting would not help (and a 429 invites retries): the model needs a price first.
        return AgentError(
            ErrorCode.VALIDATION_FAILED,
            f"the hard limit of budget {names} refuses calls of models without a price",
            details,
        )
    return AgentError(
        ErrorCode.RATE_LIMITED,
        f"the hard limit of budget {names} refuses these calls until its period ends",
        details,
    )


async def _publish(
    bus: Bus,
    ctx: MessageContext,
    team_id: str,
    api_key_id: str | None,
    received_at: datetime,
    events: list[TokenEvent],
) -> set[str]:
    """Publish the events; returns the ids of those whose message JetStream had stored already (its
    ack says duplicate: the same message id within the stream's duplicate window)."""
    chunks = list(message_chunks(team_id, events))
    # All messages of the batch in flight at once: the answer waits for the slowest ack, not the sum.
    acks = await asyncio.gather(
        *(
            bus.publish(
                TOKEN_EVENTS_ACCEPTED,
                TokenEventsAccepted(
                    api_key_id=api_key_id, received_at=received_at, events=TokenEventColumns.of(chunk)
                ),
                ctx,
                message_id=message_id,
            )
            for message_id, chunk in chunks
        )
    )
    return {
        event.id for (_, chunk), ack in zip(chunks, acks, strict=True) if ack.duplicate for event in chunk
    }
