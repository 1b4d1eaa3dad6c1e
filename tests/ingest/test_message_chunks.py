"""Cutting accepted token events into bus messages NATS will take."""

from __future__ import annotations

from datetime import UTC, datetime

from services.ingest.token_events import EVENTS_PER_MESSAGE, message_chunks
from shared.messages.telemetry import MAX_TAGS, TokenEvent, TokenEventColumns, TokenEventsAccepted

# NATS' default max_payload; the envelope around the payload is a few hundred bytes.
NATS_MAX_PAYLOAD = 1024 * 1024
NOW = datetime.now(UTC)


def event(index: int, tag_value: str = "", **fields: object) -> TokenEvent:
    tags = {f"tag{n:02d}-{'k' * 58}": tag_value for n in range(MAX_TAGS)} if tag_value else {}
    values: dict[str, object] = {
        "id": f"e{index:06d}",
        "timestamp": NOW,
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 10,
        "output_tokens": 1,
        "tags": tags,
    }
    values.update(fields)
    return TokenEvent.model_validate(values)


def payload_bytes(events: list[TokenEvent]) -> int:
    message = TokenEventsAccepted(received_at=NOW, events=TokenEventColumns.of(events))
    return len(message.model_dump_json().encode())


def test_small_events_go_250_to_a_message_in_order() -> None:
    """Events of ordinary size fill messages of EVENTS_PER_MESSAGE, keeping their order."""
    events = [event(i) for i in range(600)]
    chunks = [chunk for _, chunk in message_chunks("team", events)]
    assert [len(chunk) for chunk in chunks] == [EVENTS_PER_MESSAGE, EVENTS_PER_MESSAGE, 100]
    assert [e.id for chunk in chunks for e in chunk] == [e.id for e in events]


def test_events_with_the_largest_tags_are_cut_so_each_message_fits_nats() -> None:
    """Events at every text limit (20 tags of 256 characters, escaped or multi-byte) never make a
    message NATS refuses (it used to cut at 250 events whatever their size: a 500 at the edge)."""
    # '"' is the allowed character JSON escapes longest (control characters are refused at the edge).
    for value in ("x" * 256, "é" * 256, '"' * 256, "\\" * 256, "😀" * 256):
        events = [event(i, value, user="u" * 256, project="p" * 128) for i in range(1000)]
        chunks = [chunk for _, chunk in message_chunks("team", events)]
        assert [e.id for chunk in chunks for e in chunk] == [e.id for e in events]
        assert max(payload_bytes(chunk) for chunk in chunks) < NATS_MAX_PAYLOAD - 4096, value


def test_message_ids_follow_the_events_so_a_resent_batch_makes_the_same_ids() -> None:
    """The same events make the same message ids (JetStream's duplicate window drops the copy)."""
    events = [event(i, "v" * 256) for i in range(300)]
    first = [message_id for message_id, _ in message_chunks("team", events)]
    assert first == [message_id for message_id, _ in message_chunks("team", events)]
    assert len(set(first)) == len(first) > 1
    assert first != [message_id for message_id, _ in message_chunks("other-team", events)]
