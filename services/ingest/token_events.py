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
from shared.messages.telemetry import EventRejection, TokenEvent

# Clocks drift; events far in the future are a client bug that would poison time-series queries.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# A bus message holds at most this many events, and at most MESSAGE_TEXT_CHARS characters of their
# text (ids, names, tags): NATS refuses payloads over its max_payload (1 MB by default), and 250
# events with long tags can be several MB. JSON takes at most six bytes for a character (an escaped
# control character), so 128 Ki characters stay under 1 MB even then.
EVENTS_PER_MESSAGE = 250
MESSAGE_TEXT_CHARS = 128 * 1024
# Numbers, timestamps and the JSON around one event's values, counted as characters.
_EVENT_OVERHEAD_CHARS = 256

_EVENTS = TypeAdapter(list[TokenEvent])
_EVENT = TypeAdapter(TokenEvent)


@dataclass(frozen=True, slots=True)
class ValidatedBatch:
    accepted: list[TokenEvent]
    rejected: list[EventRejection]
    positions: list[int]  # the request index of each accepted event


def _rejection(index: int, raw: Any, errors: list[dict[str, Any]]) -> EventRejection:
    event_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    return EventRejection(index=index, id=event_id, errors=[dict(e) for e in errors])


def _with_defaults(raw: Any, received_at: datetime) -> Any:
    """The event with a fresh id and the receive time where the client left them out or null."""
    if not isinstance(raw, dict) or (raw.get("id") is not None and raw.get("timestamp") is not None):
        return raw
    filled = dict(raw)
    if filled.get("id") is None:
        filled["id"] = uuid.uuid4().hex
    if filled.get("timestamp") is None:
        filled["timestamp"] = received_at
    return filled


def validate_events(raw_events: Sequence[Any], received_at: datetime) -> ValidatedBatch:
    """Each raw event validated on its own; ids and timestamps filled in for accepted ones."""
    prepared = [_with_defaults(raw, received_at) for raw in raw_events]
    problems: dict[int, list[dict[str, Any]]] = {}
    try:
        # One call for the whole batch: the usual case, every event valid, costs ~2 µs an event.
        events: list[TokenEvent | None] = list(_EVENTS.validate_python(prepared))
    except ValidationError:
        events = []
        for index, raw in enumerate(prepared):
            try:
                events.append(_EVENT.validate_python(raw))
            except ValidationError as error:
                events.append(None)
                problems[index] = validation_details(error)
    accepted: list[TokenEvent] = []
    rejected: list[EventRejection] = []
    positions: list[int] = []
    seen: set[str] = set()
    latest = received_at + MAX_CLOCK_SKEW
    for index, event in enumerate(events):
        if event is None:
            rejected.append(_rejection(index, raw_events[index], problems[index]))
        elif event.timestamp > latest:
            rejected.append(
                _rejection(
                    index,
                    raw_events[index],
                    [
                        {
                            "loc": "timestamp",
                            "message": f"more than {int(MAX_CLOCK_SKEW.total_seconds())} s in the future",
                            "type": "future_timestamp",
                        }
                    ],
                )
            )
        elif event.id in seen:
            rejected.append(
                _rejection(
                    index,
                    raw_events[index],
                    [{"loc": "id", "message": "this id occurs earlier in the batch", "type": "duplicate_id"}],
                )
            )
        else:
            seen.add(event.id)
            accepted.append(event)
            positions.append(index)
    return ValidatedBatch(accepted, rejected, positions)


def _text_chars(event: TokenEvent) -> int:
    """How many characters the event's values take in a bus message, JSON quoting included."""
    size = _EVENT_OVERHEAD_CHARS + len(event.id) + len(event.provider) + len(event.model)
    for text in (event.user, event.project, event.prompt_name, event.prompt_version, event.request_id):
        if text is not None:
            size += len(text) + 3
    if event.tags:
        size += sum(map(len, event.tags)) + sum(map(len, event.tags.values())) + 6 * len(event.tags)
    return size + 24 * len(event.estimated_counts)


def _sized_chunks(events: Sequence[TokenEvent]) -> Iterator[list[TokenEvent]]:
    chunk: list[TokenEvent] = []
    size = 0
    for event in events:
        event_size = _text_chars(event)
        if chunk and (len(chunk) == EVENTS_PER_MESSAGE or size + event_size > MESSAGE_TEXT_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(event)
        size += event_size
    if chunk:
        yield chunk


def message_chunks(team_id: str, events: Sequence[TokenEvent]) -> Iterator[tuple[str, list[TokenEvent]]]:
    """Bus messages for the events (at most EVENTS_PER_MESSAGE events and MESSAGE_TEXT_CHARS
    characters of text each), each with a message id derived from its content: the same events resent in the
    same batch make the same ids, so JetStream drops the copy within its duplicate window."""
    for chunk in _sized_chunks(events):
        digest = hashlib.sha256(team_id.encode())
        for event in chunk:
            digest.update(b"\0" + event.id.encode())
        yield f"te-{digest.hexdigest()[:40]}", chunk
