"""OTLP/HTTP bodies: protobuf and OTLP/JSON decoding, gzip with a size cap, typed refusals, responses."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from services.ingest.otlp import (
    DEFAULT_MAX_BYTES,
    MalformedRequest,
    RequestTooLarge,
    UnsupportedMediaType,
    decode_request,
    encode_response,
    response_content_type,
)

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"
LINK_TRACE_HEX = "0af7651916cd43dd8448eb211c80319c"
LINK_SPAN_HEX = "b7ad6b7169203331"

# Written by hand to the OTLP/JSON rules: lowerCamelCase, hex ids, 64-bit ints as strings, enums as ints.
OTLP_JSON = f"""{{
  "resourceSpans": [{{
    "resource": {{"attributes": [{{"key": "service.name", "value": {{"stringValue": "checkout"}}}}]}},
    "scopeSpans": [{{
      "scope": {{"name": "opentelemetry.instrumentation.openai_v2", "version": "2.1b0"}},
      "spans": [{{
        "traceId": "{TRACE_HEX}",
        "spanId": "{SPAN_HEX}",
        "parentSpanId": "{PARENT_HEX}",
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": "1700000000123456789",
        "endTimeUnixNano": "1700000001623456789",
        "attributes": [
          {{"key": "gen_ai.usage.input_tokens", "value": {{"intValue": "1200"}}}},
          {{"key": "gen_ai.request.temperature", "value": {{"doubleValue": 0.2}}}},
          {{"key": "gen_ai.request.stream", "value": {{"boolValue": false}}}}
        ],
        "links": [{{"traceId": "{LINK_TRACE_HEX}", "spanId": "{LINK_SPAN_HEX}"}}],
        "status": {{"code": 2, "message": "rate limited"}},
        "someFutureField": {{"nested": true}}
      }}]
    }}]
  }}]
}}"""


def _protobuf_request() -> ExportTraceServiceRequest:
    span = Span(
        trace_id=bytes.fromhex(TRACE_HEX),
        span_id=bytes.fromhex(SPAN_HEX),
        name="chat gpt-4o",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_123_456_789,
        end_time_unix_nano=1_700_000_001_623_456_789,
        attributes=[KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=1200))],
        status=Status(code=Status.STATUS_CODE_OK),
    )
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])


def _zeros_gzip(total: int) -> bytes:
    """A gzip stream of `total` zero bytes, compressed in chunks so the test never holds them all."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(total // len(chunk))]
    parts.append(compressor.flush())
    return b"".join(parts)


def test_protobuf_body_decodes_to_the_same_message() -> None:
    """A binary ExportTraceServiceRequest decodes to an equal message."""
    request = _protobuf_request()
    decoded = decode_request(request.SerializeToString(), "application/x-protobuf", None)
    assert decoded == request


def test_otlp_json_hex_ids_string_ints_and_int_enums_decode_correctly() -> None:
    """OTLP/JSON ids are hex (not base64), int64s may be strings, enums ints, unknown fields ignored."""
    decoded = decode_request(OTLP_JSON.encode(), "application/json", None)
    span = decoded.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex(TRACE_HEX)
    assert span.span_id == bytes.fromhex(SPAN_HEX)
    assert span.parent_span_id == bytes.fromhex(PARENT_HEX)
    assert span.links[0].trace_id == bytes.fromhex(LINK_TRACE_HEX)
    assert span.links[0].span_id == bytes.fromhex(LINK_SPAN_HEX)
    assert span.start_time_unix_nano == 1_700_000_000_123_456_789
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert span.status.code == Status.STATUS_CODE_ERROR
    assert span.attributes[0].value.int_value == 1200
    assert decoded.resource_spans[0].resource.attributes[0].value.string_value == "checkout"


def test_json_content_type_parameters_and_case_are_accepted() -> None:
    """`Application/JSON; charset=utf-8` is OTLP/JSON."""
    decoded = decode_request(OTLP_JSON.encode(), "Application/JSON; charset=utf-8", "identity")
    assert len(decoded.resource_spans) == 1


def test_json_id_that_is_not_hex_is_refused() -> None:
    """A base64 (protobuf-style) span id is not OTLP/JSON and is refused with 400."""
    body = OTLP_JSON.replace(SPAN_HEX, "7uGbfsPBsXQ=").encode()
    with pytest.raises(MalformedRequest) as caught:
        decode_request(body, "application/json", None)
    assert caught.value.http_status == 400
    assert "spanId" in caught.value.message


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
def test_gzip_bodies_decode(content_type: str) -> None:
    """Content-Encoding gzip is decompressed before decoding, in both encodings."""
    request = _protobuf_request()
    raw = request.SerializeToString() if content_type.endswith("protobuf") else OTLP_JSON.encode()
    decoded = decode_request(gzip.compress(raw), content_type, "gzip")
    assert decoded.resource_spans[0].scope_spans[0].spans[0].trace_id == bytes.fromhex(TRACE_HEX)


def test_multi_member_gzip_decodes_every_member() -> None:
    """A gzip body of two concatenated members (legal gzip) decodes as their concatenation."""
    raw = OTLP_JSON.encode()
    body = gzip.compress(raw[:100]) + gzip.compress(raw[100:])
    decoded = decode_request(body, "application/json", "GZIP")
    assert decoded.resource_spans[0].scope_spans[0].spans[0].span_id == bytes.fromhex(SPAN_HEX)


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    """256 MiB of zeros in a ~250 KiB gzip body: refused (413) while holding little more than the cap."""
    bomb = _zeros_gzip(256 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(RequestTooLarge) as caught:
            decode_request(bomb, "application/x-protobuf", "gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.http_status == 413
    assert peak < 3 * DEFAULT_MAX_BYTES


def test_size_cap_applies_to_uncompressed_bodies_too() -> None:
    """A plain body over the cap is refused with 413."""
    with pytest.raises(RequestTooLarge):
        decode_request(b"\x00" * 2048, "application/x-protobuf", None, max_bytes=1024)


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(OTLP_JSON.encode())[:-20]])
def test_broken_or_truncated_gzip_is_a_bad_request(body: bytes) -> None:
    """Invalid or truncated gzip is refused with 400, not an exception of zlib's."""
    with pytest.raises(MalformedRequest):
        decode_request(body, "application/json", "gzip")


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("text/plain", None),
        ("application/grpc", None),
        ("", None),
        ("application/x-protobuf", "br"),
        ("application/json", "deflate"),
    ],
)
def test_unsupported_content_type_or_encoding_is_415(content_type: str, encoding: str | None) -> None:
    """Anything but protobuf/JSON bodies, plain or gzip, is refused as an unsupported media type."""
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_request(b"{}", content_type, encoding)
    assert caught.value.http_status == 415
    assert caught.value.message


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xff\xff garbage", "application/x-protobuf"),
        (OTLP_JSON.encode(), "application/x-protobuf"),
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"[]", "application/json"),
        (b'{"resourceSpans": {"not": "a list"}}', "application/json"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 7}]}]}]}', "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
)
def test_garbage_bodies_are_a_bad_request(body: bytes, content_type: str) -> None:
    """Undecodable bodies raise MalformedRequest (400) with a message, never a library exception."""
    with pytest.raises(MalformedRequest) as caught:
        decode_request(body, content_type, None)
    assert caught.value.http_status == 400
    assert caught.value.message


def test_protobuf_response_round_trips_partial_success() -> None:
    """A protobuf response carries rejected_spans and error_message in partial_success."""
    body = encode_response("application/x-protobuf", 2, "2 spans: negative token counts")
    response = ExportTraceServiceResponse.FromString(body)
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "2 spans: negative token counts"


def test_json_response_round_trips_partial_success_in_otlp_json() -> None:
    """A JSON response uses lowerCamelCase and parses back into the same ExportTraceServiceResponse."""
    body = encode_response("application/json; charset=utf-8", 3, "bad spans")
    document = json.loads(body)
    assert document == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "bad spans"}}
    response = json_format.Parse(body, ExportTraceServiceResponse())
    assert response.partial_success.rejected_spans == 3
    assert response_content_type("application/json; charset=utf-8") == "application/json"


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
def test_full_success_response_leaves_partial_success_unset(content_type: str) -> None:
    """When nothing was rejected the response is the empty message, as OTLP asks."""
    body = encode_response(content_type, 0, "")
    if content_type == "application/json":
        assert json.loads(body) == {}
        response = json_format.Parse(body, ExportTraceServiceResponse())
    else:
        response = ExportTraceServiceResponse.FromString(body)
    assert not response.HasField("partial_success")


def test_response_in_an_unsupported_content_type_is_refused() -> None:
    """encode_response only speaks the two OTLP/HTTP encodings."""
    with pytest.raises(UnsupportedMediaType):
        encode_response("text/plain", 1, "x")
