"""The per-team drop record's pure parts: one row per reason and library, a range that is checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.otlp_genai import DroppedSpan, DropReason, SpanRef
from services.ingest.otlp_libraries import Library
from services.ingest.span_drops import EXAMPLE_CHARS, DropRow, RangeError, aggregate, window


def _drop(reason: DropReason, library: Library, name: str = "chat", detail: str = "") -> DroppedSpan:
    return DroppedSpan(SpanRef("t" * 32, "s" * 16, name, library), reason, detail)


def test_an_exports_drops_aggregate_to_one_row_per_reason_and_library() -> None:
    """Counts per (reason, library), sorted; the example prefers a span with a detail, cut to 200 chars."""
    long = "x" * 500
    rows = aggregate(
        [
            _drop(DropReason.NOT_GENAI, Library.OTHER, "GET /"),
            _drop(DropReason.INVALID, Library.OTEL_OPENAI, "chat a"),
            _drop(DropReason.INVALID, Library.OTEL_OPENAI, "chat b", long),
            _drop(DropReason.NOT_GENAI, Library.OTHER, "POST /"),
            _drop(DropReason.INVALID, Library.OTHER, "chat c", "no model"),
        ]
    )
    assert rows == [
        DropRow("invalid", Library.OTEL_OPENAI.value, 2, f"chat b: {long}"[:EXAMPLE_CHARS]),
        DropRow("invalid", Library.OTHER.value, 1, "chat c: no model"),
        DropRow("not_genai", Library.OTHER.value, 2, "GET /"),
    ]
    assert len(rows[0].example) == EXAMPLE_CHARS
    assert aggregate([]) == []


def test_the_range_defaults_to_the_last_day_and_is_checked_after_defaults() -> None:
    """No ends: the 24 h before now; one end alone that puts the other wrong or too far is refused."""
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert window(None, None, now) == (now - timedelta(hours=24), now)
    with pytest.raises(RangeError):
        window(now + timedelta(hours=1), None, now)
    with pytest.raises(RangeError):
        window(now - timedelta(days=40), None, now)
