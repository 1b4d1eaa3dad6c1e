"""Pure pieces of the bus: trace context and the envelope codec."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.bus.codec import (
    DecodeError,
    decode_envelope,
    decode_message,
    decode_payload,
    encode,
    envelope_for,
)
from shared.bus.context import MessageContext, TraceParent, valid_correlation_id
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.mesh import PingRequest
from shared.messages.telemetry import CostFigures, CostReport


def test_traceparent_round_trips_and_children_keep_the_trace() -> None:
    """A parsed traceparent renders back identically; a child span keeps the trace id."""
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    parsed = TraceParent.parse(header)
    assert parsed is not None
    assert parsed.header() == header
    child = parsed.child()
    assert child.trace_id == parsed.trace_id
    assert child.span_id != parsed.span_id


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
    ],
)
def test_malformed_traceparent_is_ignored(header: str) -> None:
    """Malformed or all-zero trace ids are refused, so a new trace starts instead."""
    assert TraceParent.parse(header) is None


def test_correlation_ids_are_accepted_only_when_plain() -> None:
    """A caller's correlation id is kept if short and plain; log-injection attempts are dropped."""
    assert valid_correlation_id("req-123:abc") == "req-123:abc"
    assert valid_correlation_id("a\nb") is None
    assert valid_correlation_id("x" * 200) is None


def test_envelope_round_trip_keeps_principal_and_payload() -> None:
    """Encoding then decoding an envelope gives back the principal and a typed payload."""
    ctx = MessageContext(principal=Principal(team_id="t1", user_id="u1", roles=("admin",)))
    envelope = envelope_for(PingRequest(echo="hi"), ctx, "test")
    decoded = decode_envelope(encode(envelope))
    assert decoded.principal == ctx.principal
    assert decoded.correlation_id == ctx.correlation_id
    assert decode_payload(decoded, PingRequest).echo == "hi"


def test_not_an_envelope_is_a_typed_bad_request() -> None:
    """Bytes that are not an envelope raise a DecodeError with code bad_request."""
    with pytest.raises(DecodeError) as caught:
        decode_envelope(b"\x00not json")
    assert caught.value.body.code == ErrorCode.BAD_REQUEST


def test_invalid_payload_is_a_typed_validation_error_naming_the_field() -> None:
    """A payload breaking its model raises validation_failed with the field's location."""
    envelope = envelope_for(PingRequest(), MessageContext(), "test").model_copy(
        update={"payload": {"echo": 5}}
    )
    with pytest.raises(DecodeError) as caught:
        decode_payload(envelope, PingRequest)
    assert caught.value.body.code == ErrorCode.VALIDATION_FAILED
    assert caught.value.body.details[0]["loc"] == "echo"


def test_one_pass_decode_gives_the_typed_payload_and_keeps_its_nulls() -> None:
    """decode_message returns envelope and payload in one pass; None inside the payload survives
    (only absent envelope fields are left out of the JSON), so required nullable fields decode."""
    ctx = MessageContext(principal=Principal(team_id="t1"))
    report = CostReport(
        team_id="t1",
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 2, tzinfo=UTC),
        bucket=None,
        group_by=[],
        totals=CostFigures(
            cost_usd=Decimal("1.5"),
            events=1,
            input_tokens=1,
            output_tokens=1,
            cache_read_tokens=0,
            cache_write_tokens=0,
            reasoning_tokens=0,
            unpriced_events=0,
            errors=0,
            latency_p50_ms=None,
            latency_p95_ms=None,
        ),
        groups=[],
        truncated=False,
    )
    data = encode(envelope_for(report, ctx, "test"))

    envelope, payload = decode_message(data, CostReport)

    assert payload == report
    assert envelope.principal == ctx.principal
    assert decode_payload(decode_envelope(data), CostReport) == report


def test_one_pass_decode_names_a_bad_envelope_or_a_bad_payload() -> None:
    """decode_message fails like the two-step path: bad_request for a non-envelope, validation_failed
    with the field for an invalid payload."""
    with pytest.raises(DecodeError) as not_envelope:
        decode_message(b"{}", PingRequest)
    assert not_envelope.value.body.code == ErrorCode.BAD_REQUEST

    plain = decode_envelope(encode(envelope_for(PingRequest(), MessageContext(), "test")))
    bad = plain.model_copy(update={"payload": {"echo": 5}})
    with pytest.raises(DecodeError) as bad_payload:
        decode_message(encode(bad), PingRequest)
    assert bad_payload.value.body.code == ErrorCode.VALIDATION_FAILED
    assert bad_payload.value.body.details[0]["loc"] == "echo"
