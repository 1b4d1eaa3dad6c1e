"""Webhook intake without a server: streaming verification, the unsigned-bytes budget, form bodies."""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.parse

import pytest

from services.webhooks.intake import (
    UnsignedBytes,
    WebhookRejected,
    parse_delivery,
    read_signed_body,
)
from services.webhooks.signature import StreamingVerifier, sign
from shared.messages.envelope import ErrorCode

SECRET = "It's a Secret to Everybody"


class Chunks:
    """A request body arriving in the given chunks; `gate` (if set) holds the stream before its end."""

    def __init__(self, *chunks: bytes, gate: asyncio.Event | None = None) -> None:
        self._chunks = list(chunks)
        self._gate = gate
        self.reads = 0

    async def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if not self._chunks:
            if self._gate is not None:
                await self._gate.wait()
            return b""
        return self._chunks.pop(0)


def headers_for(body: bytes, **extra: str) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": sign(body, SECRET),
        "X-GitHub-Event": "installation",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        **extra,
    }


def test_streaming_verifier_matches_githubs_vector_across_chunks() -> None:
    """Feeding GitHub's published test body in pieces gives the published signature."""
    verifier = StreamingVerifier(["old", SECRET])
    for piece in (b"Hello, ", b"World", b"!"):
        verifier.update(piece)
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verifier.verify(expected, None) is None
    assert verifier.verify("sha256=" + "0" * 64, None) is not None


async def test_body_is_returned_only_when_its_signature_matches() -> None:
    """A body read in chunks comes back whole when signed; a wrong signature is 401 after reading."""
    body = b'{"action": "created"}'
    assert await read_signed_body(Chunks(body[:5], body[5:]), headers_for(body), len(body), [SECRET]) == body
    with pytest.raises(WebhookRejected) as rejected:
        await read_signed_body(Chunks(body), headers_for(b"other"), len(body), [SECRET])
    assert rejected.value.code == ErrorCode.UNAUTHENTICATED


async def test_missing_signature_is_refused_before_the_body_is_read() -> None:
    """No (or a malformed) signature header: 401 without reading a byte of the body."""
    for headers in ({}, {"X-Hub-Signature-256": "sha256=xyz"}):
        stream = Chunks(b"x" * 1000)
        with pytest.raises(WebhookRejected) as rejected:
            await read_signed_body(stream, headers, 1000, [SECRET])
        assert rejected.value.code == ErrorCode.UNAUTHENTICATED
        assert stream.reads == 0


async def test_unsigned_bytes_in_flight_are_bounded_across_requests() -> None:
    """While one request holds most of the budget unverified, another that would pass it gets 503
    before it is read; once the first is done, the budget is free again (declared or chunked)."""
    budget = UnsignedBytes(100)
    gate = asyncio.Event()
    held_body = b"a" * 80
    first = asyncio.create_task(
        read_signed_body(Chunks(held_body, gate=gate), headers_for(held_body), 80, [SECRET], budget=budget)
    )
    await asyncio.sleep(0.01)
    assert budget.held == 80
    second_body = b"b" * 30
    stream = Chunks(second_body)
    with pytest.raises(WebhookRejected) as rejected:
        await read_signed_body(stream, headers_for(second_body), 30, [SECRET], budget=budget)
    assert rejected.value.code == ErrorCode.UNAVAILABLE
    assert stream.reads == 0
    # Without a Content-Length the chunks are counted as they arrive.
    with pytest.raises(WebhookRejected) as rejected:
        await read_signed_body(
            Chunks(b"c" * 15, b"c" * 15), headers_for(b"c" * 30), None, [SECRET], budget=budget
        )
    assert rejected.value.code == ErrorCode.UNAVAILABLE
    assert budget.held == 80
    gate.set()
    assert await first == held_body
    assert budget.held == 0
    assert await read_signed_body(Chunks(second_body), headers_for(second_body), 30, [SECRET], budget=budget)


async def test_a_body_that_stops_arriving_releases_its_budget() -> None:
    """A body still incomplete after the arrival limit is refused and gives its bytes back."""
    budget = UnsignedBytes(100)
    body = b"a" * 50
    with pytest.raises(WebhookRejected) as rejected:
        await read_signed_body(
            Chunks(body[:10], gate=asyncio.Event()),
            headers_for(body),
            50,
            [SECRET],
            budget=budget,
            arrival_seconds=0.05,
        )
    assert "did not arrive" in rejected.value.message
    assert budget.held == 0


async def test_oversize_declared_or_streamed_is_413() -> None:
    """More than the limit, declared or as it streams, is 413."""
    body = b"x" * 20
    for declared in (20, None):
        with pytest.raises(WebhookRejected) as rejected:
            await read_signed_body(
                Chunks(body[:10], body[10:]), headers_for(body), declared, [SECRET], limit=15
            )
        assert rejected.value.code == ErrorCode.PAYLOAD_TOO_LARGE


def test_form_encoded_delivery_carries_its_json_in_payload() -> None:
    """`payload=<urlencoded JSON>` signed as sent: parsed from the field, body kept verbatim, and the
    ledger digest is the JSON document's (the same as a JSON delivery of the same event)."""
    document = json.dumps({"action": "purchased", "marketplace_purchase": {"unit_count": 10}}).encode()
    body = urllib.parse.urlencode({"payload": document.decode()}).encode()
    headers = headers_for(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    incoming = parse_delivery("marketplace", headers, body, [SECRET])
    assert incoming.payload["marketplace_purchase"] == {"unit_count": 10}
    assert incoming.action == "purchased"
    assert incoming.body == body
    assert incoming.document_sha256 == hashlib.sha256(document).digest()
    as_json = parse_delivery("marketplace", headers_for(document), document, [SECRET])
    assert as_json.document_sha256 == incoming.document_sha256


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"payload=%7Bbroken", "application/x-www-form-urlencoded", ErrorCode.BAD_REQUEST),
        (b"other=1", "application/x-www-form-urlencoded", ErrorCode.BAD_REQUEST),
        (b"payload=%7B%7D&payload=%7B%7D", "application/x-www-form-urlencoded", ErrorCode.BAD_REQUEST),
        (b"{}", "text/plain", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    ],
)
def test_malformed_form_bodies_are_precise_4xx(body: bytes, content_type: str, code: ErrorCode) -> None:
    """A signed form body without one JSON payload field is 400; another media type is 415."""
    with pytest.raises(WebhookRejected) as rejected:
        parse_delivery("app", headers_for(body, **{"Content-Type": content_type}), body, [SECRET])
    assert rejected.value.code == code
