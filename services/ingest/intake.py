"""The edge's side of token-event ingest: validate, recognise resends, count against the plan and
the budgets, make durable, answer.

Accepted means stored in JetStream: the answer is sent only after every message of the batch has
its publish acknowledgement. Budgets with a hard limit refuse the events they cannot take: by index
when others of the batch are accepted, as a whole 429 (with Retry-After) when none is (422 when
every refusal is for a model without a price: waiting would not help).

Each event of the answer is accepted, a duplicate or rejected. The team's id ledger
(`services.ingest.id_ledger`) says which ids were accepted before, within the duplicate window:
claiming the batch's ids and counting the new ones against the plan's monthly limit is one
transaction, so a resend is never counted (nor refused at the limit) and concurrent requests
carrying the same id accept it once. Only new events go to budget admission. Whatever is not
accepted after all (refused by a budget, not published) is released from the ledger and given
back to the plan in one transaction, so a retry is judged afresh. Duplicates are published again
with the new events: if the request that claimed them died before its publish was acknowledged,
this copy is the one stored (the MonitoringAgent drops it by id otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.identity.plans import PlanBook
from services.ingest import id_ledger, otlp, span_drops
from services.ingest.budget_gate import BudgetGate
from services.ingest.token_events import ValidatedBatch, message_chunks, validate_events
from services.marketplace.entitlements import LimitName
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError, PublishOutcomeUnknown, ServiceUnavailable
from shared.messages.budgets import AdmissionResult, Refusal, RefusalReason
from shared.messages.envelope import ErrorCode
from shared.messages.registry import TOKEN_EVENTS_ACCEPTED
from shared.messages.telemetry import (
    EventRejection,
    IngestResult,
    TokenEvent,
    TokenEventColumns,
    TokenEventsAccepted,
)
from shared.metrics import OTLP_SPANS_DROPPED_TOTAL, TOKEN_EVENTS_INGESTED_TOTAL
from shared.principals import team_of

_METERED = LimitName.MONTHLY_TOKEN_EVENTS


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
    dropped = list(mapping.dropped)
    if mapping.events:
        batch = validate_events([event.model_dump() for _, event in mapping.events], received_at)
        errors = batch.rejected
        if batch.accepted:
            errors = (await _accept(intake, ctx, batch, received_at)).errors
        dropped += [
            otlp.DroppedSpan(mapping.events[e.index][0], otlp.DropReason.REFUSED, _error_text(e))
            for e in errors
        ]
    # Every span that is not a token event is reported, with why: OTLP's partial_success, and a metric.
    for drop in dropped:
        OTLP_SPANS_DROPPED_TOTAL.labels(drop.reason.value, drop.ref.library.value).inc()
    if dropped:
        assert ctx.principal is not None  # ingest routes are not public
        # Per team too (the metric has none): the API and the dashboard's ingest health read it.
        await span_drops.record(intake.pool, team_of(ctx.principal), dropped, received_at)
    TOKEN_EVENTS_INGESTED_TOTAL.labels("rejected").inc(
        sum(1 for drop in dropped if drop.reason in (otlp.DropReason.INVALID, otlp.DropReason.REFUSED))
    )
    answer_type = otlp.response_content_type(content_type)
    return otlp.encode_response(answer_type, len(dropped), otlp.summarise(dropped)), answer_type


def _error_text(rejection: EventRejection) -> str:
    return "; ".join(f"{error.get('loc', 'event')}: {error.get('message', '')}" for error in rejection.errors)


def ignored_otlp(content_type: str, signal: otlp.IgnoredSignal) -> tuple[bytes, str]:
    """OTLP/HTTP metrics and logs: the success answer, nothing stored (`services.ingest.otlp_ignored`)."""
    try:
        return otlp.encode_ignored_response(signal, content_type)
    except otlp.UnsupportedMediaType as error:
        raise AgentError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, error.message) from error


async def _accept(
    intake: Intake, ctx: MessageContext, batch: ValidatedBatch, received_at: datetime
) -> IngestResult:
    principal = ctx.principal
    assert principal is not None  # ingest routes are not public
    team_id = team_of(principal)
    fresh = await _claim_new(intake, team_id, batch, received_at)
    new = [(e, p) for e, p in zip(batch.accepted, batch.positions, strict=True) if e.id in fresh]
    claimed = {event.id for event, _ in new}  # what a failure below must release and refund
    try:
        admission = AdmissionResult()
        if new:
            admission = await intake.budgets.admit(
                ctx, team_id, principal.api_key_id, [e for e, _ in new], [p for _, p in new]
            )
        refused = {refusal.index: refusal for refusal in admission.refused}
        if refused:
            refused_ids = [event.id for event, position in new if position in refused]
            await _release(intake, team_id, refused_ids, received_at)
            claimed.difference_update(refused_ids)
        ids = {position: event.id for event, position in zip(batch.accepted, batch.positions, strict=True)}
        kept = [(e, p) for e, p in zip(batch.accepted, batch.positions, strict=True) if p not in refused]
        if not kept:
            raise _over_budget(admission.refused, batch.rejected, ids)
        await _publish(intake.bus, ctx, team_id, principal.api_key_id, received_at, kept)
    except BaseException:
        if claimed:
            await _release(intake, team_id, sorted(claimed), received_at)
        raise
    accepted = [event for event, position in new if position not in refused]
    duplicates = [event for event in batch.accepted if event.id not in fresh]
    TOKEN_EVENTS_INGESTED_TOTAL.labels("accepted").inc(len(accepted))
    TOKEN_EVENTS_INGESTED_TOTAL.labels("duplicate").inc(len(duplicates))
    TOKEN_EVENTS_INGESTED_TOTAL.labels("over_budget").inc(len(refused))
    errors = [*batch.rejected, *(_refusal_error(r, ids.get(r.index)) for r in admission.refused)]
    errors.sort(key=lambda rejection: rejection.index)
    return IngestResult(
        accepted=len(accepted),
        rejected=len(errors),
        ids=[event.id for event in accepted],
        errors=errors,
        duplicates=len(duplicates),
        duplicate_ids=[event.id for event in duplicates],
    )


async def _claim_new(intake: Intake, team_id: str, batch: ValidatedBatch, received_at: datetime) -> set[str]:
    """The batch's ids not accepted before, claimed in the ledger and counted against the plan's
    monthly limit in one transaction: a 402 claims nothing."""
    async with intake.pool.acquire() as conn, conn.transaction():
        fresh = await id_ledger.claim(conn, team_id, [event.id for event in batch.accepted])
        if fresh:
            await intake.plans.consume_monthly(conn, team_id, _METERED, len(fresh), received_at)
    return fresh


async def _release(intake: Intake, team_id: str, event_ids: Sequence[str], received_at: datetime) -> None:
    """Ids claimed by this request whose events were not accepted after all: out of the ledger and
    back to the plan, together."""
    async with intake.pool.acquire() as conn, conn.transaction():
        await id_ledger.release(conn, team_id, event_ids)
        await intake.plans.refund_monthly(conn, team_id, _METERED, len(event_ids), received_at)


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
    kept: list[tuple[TokenEvent, int]],
) -> None:
    """Publish the events and wait for every acknowledgement.

    A failure says what is known: nothing stored (every message refused: 503), or an outcome
    unknown (a message not acknowledged, or some stored and some not: `outcome_unknown`, 504),
    which a resend of the same ids settles without doubling anything."""
    # All messages of the batch in flight at once: the answer waits for the slowest ack, not the sum.
    outcomes = await asyncio.gather(
        *(
            bus.publish(
                TOKEN_EVENTS_ACCEPTED,
                TokenEventsAccepted(
                    api_key_id=api_key_id, received_at=received_at, events=TokenEventColumns.of(chunk)
                ),
                ctx,
                message_id=message_id,
            )
            for message_id, chunk in message_chunks(team_id, [event for event, _ in kept])
        ),
        return_exceptions=True,
    )
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if not failures:
        return
    refused = [failure for failure in failures if isinstance(failure, ServiceUnavailable)]
    if len(refused) == len(outcomes):
        raise refused[0]
    if len(refused) + sum(isinstance(f, PublishOutcomeUnknown) for f in failures) < len(failures):
        raise next(f for f in failures if not isinstance(f, ServiceUnavailable | PublishOutcomeUnknown))
    raise outcome_unknown(kept)


OUTCOME_UNKNOWN_MESSAGE = (
    "the outcome is unknown: the event stream did not confirm in time, so these events may or may not "
    "have been stored. Retrying is safe: send the same events again with the same ids (ids are "
    "deduplicated, so nothing is stored or counted twice); `details` gives the id of each event by "
    "index, including ids the server assigned to events sent without one."
)


def outcome_unknown(kept: Sequence[tuple[TokenEvent, int]]) -> AgentError:
    """The answer when the publish of these events (with their request indexes) was not confirmed."""
    return AgentError(
        ErrorCode.OUTCOME_UNKNOWN,
        OUTCOME_UNKNOWN_MESSAGE,
        [{"index": position, "id": event.id} for event, position in kept],
    )
