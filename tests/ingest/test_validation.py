"""The edge's validation of token-event batches and the column-wise bus message (pure logic)."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.ingest.token_events import validate_events
from shared.messages.telemetry import TokenEventColumns, TokenEventIn, TokenEventsAccepted

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


def _number_fields(model: type[TokenEventIn]) -> dict[str, type]:
    """Each field whose type is a number (int or float, optionally None), with that type."""
    found: dict[str, type] = {}
    for name, info in model.model_fields.items():
        kinds = {info.annotation, *typing.get_args(info.annotation)}
        kinds |= {
            typing.get_args(kind)[0] for kind in list(kinds) if typing.get_origin(kind) is typing.Annotated
        }
        for kind in (int, float):
            if kind in kinds:
                found[name] = kind
    return found


def test_every_number_field_of_an_event_takes_json_numbers_only() -> None:
    """Every numeric field of an event (each token kind, latency) refuses "1000", true and false, and
    each integer field refuses 1000.0 and 1.5: none is read as a number; plain numbers are accepted."""
    fields = _number_fields(TokenEventIn)
    assert {
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    } <= {name for name, kind in fields.items() if kind is int}
    assert fields["latency_ms"] is float
    for name, kind in fields.items():
        bad: list[object] = ["1000", " 1000 ", True, False]
        if kind is int:
            bad += [1000.0, 1.5]
        events = [raw(id=f"bad{i}", **{name: value}) for i, value in enumerate(bad)]
        batch = validate_events([*events, raw(id="good", **{name: 1000})], NOW)
        assert batch.positions == [len(bad)], name
        assert [rejection.errors[0]["loc"] for rejection in batch.rejected] == [name] * len(bad)
        assert getattr(batch.accepted[0], name) == 1000


def test_a_timestamp_is_rfc3339_text_not_a_unix_number() -> None:
    """Numbers and digit strings are refused as timestamps (seconds or milliseconds would be a
    guess); RFC 3339 text with an offset is accepted."""
    stamps: list[object] = [1_764_000_000, 1_764_000_000_000, 1.5, "1764000000", True]
    events = [raw(id=f"t{i}", timestamp=stamp) for i, stamp in enumerate(stamps)]
    batch = validate_events([*events, raw(id="ok", timestamp="2026-11-25T11:00:00+01:00")], NOW)
    assert batch.positions == [len(stamps)]
    assert {rejection.errors[0]["loc"] for rejection in batch.rejected} == {"timestamp"}
    assert batch.accepted[0].timestamp == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
