"""The edge's validation of token-event batches and the column-wise bus message (pure logic)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.ingest.token_events import validate_events
from shared.messages.telemetry import TokenEventColumns, TokenEventsAccepted

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def raw(**fields: object) -> dict[str, object]:
    return {"provider": "openai", "model": "gpt-4o", "input_tokens": 10, **fields}


def test_a_batch_with_bad_events_keeps_the_good_ones_by_index() -> None:
    """Invalid, future, and repeated-id events are rejected by index; the rest are accepted in order
    with ids and timestamps filled in."""
    batch = validate_events(
        [
            raw(id="a"),
            raw(id="b", input_tokens=-1),
            raw(),
            raw(id="c", timestamp=(NOW + timedelta(hours=1)).isoformat()),
            raw(id="a"),
            "not an event",
        ],
        NOW,
    )
    assert batch.positions == [0, 2]
    assert [rejection.index for rejection in batch.rejected] == [1, 3, 4, 5]
    assert [rejection.errors[0]["type"] for rejection in batch.rejected[1:3]] == [
        "future_timestamp",
        "duplicate_id",
    ]
    assert batch.rejected[0].errors[0]["loc"] == "input_tokens"
    assert batch.accepted[1].timestamp == NOW
    assert len(batch.accepted[1].id) == 32


def test_bus_columns_round_trip_and_refuse_unequal_lengths() -> None:
    """TokenEventColumns holds one list per field; JSON round trips, and lists of different lengths
    are refused when decoded."""
    events = validate_events([raw(id="a", tags={"f": "x"}), raw(id="b", user="u")], NOW).accepted
    columns = TokenEventColumns.of(events)
    assert len(columns) == 2
    assert TokenEventColumns.model_validate_json(columns.model_dump_json()) == columns
    broken = columns.model_dump()
    broken["model"] = ["gpt-4o"]
    with pytest.raises(ValidationError, match="differ in length"):
        TokenEventColumns.model_validate(broken)


def test_a_batch_published_row_wise_by_an_earlier_version_still_decodes() -> None:
    """A `TokenEventsAccepted` whose events are a list of objects (the format before columns) decodes to
    the same columns, so messages left in the stream across an upgrade are priced, not dead-lettered."""
    events = validate_events([raw(id="a", tags={"f": "x"}), raw(id="b", user="u")], NOW).accepted
    current = TokenEventsAccepted(received_at=NOW, events=TokenEventColumns.of(events))
    earlier = json.dumps(
        {"received_at": NOW.isoformat(), "events": [event.model_dump(mode="json") for event in events]}
    )
    assert TokenEventsAccepted.model_validate_json(earlier) == current
