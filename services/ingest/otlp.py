"""OTLP/HTTP ingest (``POST /v1/traces``; ``/v1/metrics`` and ``/v1/logs`` accepted and ignored):
decode export requests, map GenAI spans to token events.

Pure logic, no I/O: the edge route reads the body and answers; this module is its whole vocabulary.
Decoding and encoding live in `services.ingest.otlp_decode`, the semantic-convention mapping in
`services.ingest.otlp_genai`.
"""

from services.ingest.otlp_decode import (
    DEFAULT_MAX_BYTES,
    JSON,
    PROTOBUF,
    MalformedRequest,
    OtlpRequestError,
    RequestTooLarge,
    UnsupportedMediaType,
    decode_request,
    encode_response,
    media_type,
    response_content_type,
)
from services.ingest.otlp_genai import (
    DroppedSpan,
    DropReason,
    OtlpMapping,
    SpanRef,
    normalise_provider,
    spans_to_events,
    summarise,
)
from services.ingest.otlp_ignored import IgnoredSignal, encode_ignored_response

__all__ = [
    "DEFAULT_MAX_BYTES",
    "JSON",
    "PROTOBUF",
    "DropReason",
    "DroppedSpan",
    "IgnoredSignal",
    "MalformedRequest",
    "OtlpMapping",
    "OtlpRequestError",
    "RequestTooLarge",
    "SpanRef",
    "UnsupportedMediaType",
    "decode_request",
    "encode_ignored_response",
    "encode_response",
    "media_type",
    "normalise_provider",
    "response_content_type",
    "spans_to_events",
    "summarise",
]
