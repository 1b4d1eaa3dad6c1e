"""OTLP/HTTP trace export bodies: decode `ExportTraceServiceRequest`, encode `ExportTraceServiceResponse`.

Two encodings (OTLP specification, "OTLP/HTTP"):

- ``application/x-protobuf``: the binary protobuf message.
- ``application/json``: OTLP/JSON, protobuf's JSON mapping with OTLP's own deviations. The one that
  matters when decoding is that ``traceId``, ``spanId`` and ``parentSpanId`` (also in span links) are
  **hex** strings, not base64 as protobuf's JSON mapping of ``bytes`` says. A 32-character hex string
  is also valid base64, so handing it to ``json_format.Parse`` unchanged would silently yield a wrong
  24-byte id: we convert those fields from hex to base64 first. The rest (lowerCamelCase names, 64-bit
  integers as strings or numbers, enums as integers, unknown fields ignored) ``json_format`` handles.

``Content-Encoding: gzip`` is accepted; decompression stops at ``max_bytes`` so a small bomb cannot
expand into memory. The response is encoded in the request's content type, as OTLP/HTTP requires.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
DEFAULT_MAX_BYTES: Final = 16 * 1024 * 1024

# OTLP/JSON fields holding ids as hex, per message: the span, and each of its links.
_SPAN_ID_FIELDS: Final = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_LINK_ID_FIELDS: Final = ("traceId", "spanId", "trace_id", "span_id")


class OtlpRequestError(Exception):
    """A request the OTLP route must refuse; `http_status` says with which status, `message` why."""

    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedMediaType(OtlpRequestError):
    """Content type or content encoding we do not accept (HTTP 415)."""

    http_status = 415


class MalformedRequest(OtlpRequestError):
    """The body cannot be decoded as an `ExportTraceServiceRequest` in its declared encoding (HTTP 400)."""

    http_status = 400


class RequestTooLarge(OtlpRequestError):
    """The body, once decompressed, exceeds the size limit (HTTP 413)."""

    http_status = 413


def media_type(content_type: str | None) -> str:
    """The lower-cased media type of a Content-Type header, without its parameters (charset, ...)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _require_supported(content_type: str | None) -> str:
    kind = media_type(content_type)
    if kind not in (PROTOBUF, JSON):
        raise UnsupportedMediaType(
            f"unsupported content type {content_type!r}: OTLP/HTTP takes {PROTOBUF} or {JSON}"
        )
    return kind


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """Decompress every gzip member of `body`, refusing to produce more than `max_bytes`."""
    out = bytearray()
    data = body
    while data:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise MalformedRequest(f"body is not valid gzip: {exc}") from exc
        if len(out) > max_bytes:
            raise RequestTooLarge(f"decompressed body exceeds {max_bytes} bytes")
        if not inflater.eof:
            # Output stopped short of the limit without reaching the end: the stream is truncated.
            raise MalformedRequest("body is truncated gzip")
        data = inflater.unused_data
    return bytes(out)


def decompress(body: bytes, content_encoding: str | None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The body with its Content-Encoding (none, ``identity`` or ``gzip``) removed, at most `max_bytes`."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > max_bytes:
            raise RequestTooLarge(f"body exceeds {max_bytes} bytes")
        return body
    if encoding == "gzip":
        return _gunzip(body, max_bytes)
    raise UnsupportedMediaType(f"unsupported content encoding {content_encoding!r}: use gzip or none")


def _hex_to_base64(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise MalformedRequest(f"{field} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise MalformedRequest(f"{field} is not a hex string: {value[:64]!r}") from exc
    return base64.b64encode(raw).decode("ascii")


def _rewrite_ids(message: dict[str, Any], fields: tuple[str, ...]) -> None:
    for field in fields:
        if field in message and message[field] is not None:
            message[field] = _hex_to_base64(message[field], field)


def _children(message: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    for name in names:
        value = message.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise MalformedRequest(f"{name} must be a list of objects")
        return value
    return []


def _hex_ids_to_base64(document: object) -> None:
    """Rewrite OTLP/JSON's hex ids in place into the base64 `json_format` expects for bytes fields."""
    if not isinstance(document, dict):
        raise MalformedRequest("OTLP/JSON body must be a JSON object")
    for resource_spans in _children(document, "resourceSpans", "resource_spans"):
        for scope_spans in _children(resource_spans, "scopeSpans", "scope_spans"):
            for span in _children(scope_spans, "spans"):
                _rewrite_ids(span, _SPAN_ID_FIELDS)
                for link in _children(span, "links"):
                    _rewrite_ids(link, _LINK_ID_FIELDS)


def _parse_json(data: bytes) -> ExportTraceServiceRequest:
    try:
        document = json.loads(data)
        _hex_ids_to_base64(document)
        request: ExportTraceServiceRequest = json_format.ParseDict(
            document, ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
        return request
    except OtlpRequestError:
        raise
    except (ValueError, json_format.ParseError, RecursionError, TypeError, AttributeError) as exc:
        # ValueError covers json.JSONDecodeError and UnicodeDecodeError.
        raise MalformedRequest(f"body is not a valid OTLP/JSON ExportTraceServiceRequest: {exc}") from exc


def _parse_protobuf(data: bytes) -> ExportTraceServiceRequest:
    try:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(data)
        return request
    except (DecodeError, RecursionError) as exc:
        raise MalformedRequest(f"body is not a valid protobuf ExportTraceServiceRequest: {exc}") from exc


def decode_request(
    body: bytes, content_type: str, content_encoding: str | None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> ExportTraceServiceRequest:
    """Decode an OTLP/HTTP ``POST /v1/traces`` body.

    Raises `UnsupportedMediaType` (415), `RequestTooLarge` (413) or `MalformedRequest` (400).
    """
    kind = _require_supported(content_type)
    data = decompress(body, content_encoding, max_bytes=max_bytes)
    return _parse_json(data) if kind == JSON else _parse_protobuf(data)


def response_content_type(request_content_type: str) -> str:
    """The Content-Type of the response to a request of `request_content_type`."""
    return _require_supported(request_content_type)


def encode_response(content_type: str, rejected_spans: int, error_message: str) -> bytes:
    """An `ExportTraceServiceResponse` in the request's encoding; `partial_success` only when there is news.

    OTLP: a server that accepted everything leaves `partial_success` unset; one that rejected spans
    sets `rejected_spans` and says why in `error_message`.
    """
    kind = _require_supported(content_type)
    if rejected_spans < 0:
        raise ValueError("rejected_spans cannot be negative")
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    if kind == PROTOBUF:
        encoded: bytes = response.SerializeToString()
        return encoded
    document = json_format.MessageToDict(response)
    return json.dumps(document, separators=(",", ":")).encode()
