"""Validate a batch of token events one by one, and cut the accepted ones into bus messages.

Pure logic: the edge handler (agents/super_agent) does the I/O around it. One bad event never sinks
the batch: it is reported by index and the others are accepted. Events without an id get a fresh
one (returned to the caller); ids repeated inside one batch are refused, since a duplicate would
be dropped downstream anyway and the caller should know.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.bus.codec import validation_details
from shared.messages.telemetry import EventRejection, TokenEvent, TokenEventIn

# Clocks drift; events far in the future are a client bug that would poison time-series queries.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Keeps each bus message far below NATS' default 1 MB max_payload, whatever the events carry.
EVENTS_PER_MESSAGE = 250

_EVENT = TypeAdapter(TokenEventIn)


@dataclass(frozen=True, slots=True)
class ValidatedBatch:
    accepted: list[TokenEvent]
    rejected: list[EventRejection]
    positions: list[int]  # the request index of each accepted event


def _rejection(index: int, raw: Any, errors: list[dict[str, Any]]) -> EventRejection:
    event_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    return EventRejection(index=index, id=event_id, errors=[dict(e) for e in errors])


def validate_events(raw_events: Sequence[Any], received_at: datetime) -> ValidatedBatch:
    """Each raw event validated on its own; ids and timestamps filled in for accepted ones."""
    accepted: list[TokenEvent] = []
    rejected: list[EventRejection] = []
    positions: list[int] = []
    seen: set[str] = set()
    latest = received_at + MAX_CLOCK_SKEW
    for index, raw in enumerate(raw_events):
        try:
            event = _EVENT.validate_python(raw)
        except ValidationError as error:
            rejected.append(_rejection(index, raw, validation_details(error)))
            continue
        if event.timestamp is not None and event.timestamp > latest:
            rejected.append(
                _rejection(
                    index,
                    raw,
                    [
                        {
                            "loc": "timestamp",
                            "message": f"more than {int(MAX_CLOCK_SKEW.total_seconds())} s in the future",
                            "type": "future_timestamp",
                        }
                    ],
                )
            )
            continue
        event_id = event.id or uuid.uuid4().hex
        if event_id in seen:
            rejected.append(
                _rejection(
                    index,
                    raw,
                    [{"loc": "id", "message": "this id occurs earlier in the batch", "type": "duplicate_id"}],
                )
            )
            continue
        seen.add(event_id)
        # The input was validated just now: copying its fields without a second validation pass
        # keeps the edge at tens of thousands of events per second.
        fields = dict(event.__dict__)
        fields["id"] = event_id
        fields["timestamp"] = event.timestamp or received_at
        accepted.append(TokenEvent.model_construct(**fields))
        positions.append(index)
    return ValidatedBatch(accepted, rejected, positions)


def message_chunks(team_id: str, events: Sequence[TokenEvent]) -> Iterator[tuple[str, list[TokenEvent]]]:
    """Bus messages for the events, each with a message id derived from its content: the same
    events resent in the same batch make the same ids, so JetStream drops the copy within its
    duplicate window (ClickHouse drops later copies by event id)."""
    for start in range(0, len(events), EVENTS_PER_MESSAGE):
        chunk = list(events[start : start + EVENTS_PER_MESSAGE])
        digest = hashlib.sha256(team_id.encode())
        for event in chunk:
            digest.update(b"\0" + event.id.encode())
        yield f"te-{digest.hexdigest()[:40]}", chunk
