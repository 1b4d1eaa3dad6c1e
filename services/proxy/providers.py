"""Per provider: which headers carry the caller's own key, how errors look, and the request
rewrites the proxy makes (pure, no I/O).

Our own credential travels in `X-MNO-Api-Key` (any SDK can add a header: `default_headers`,
`http_options.headers`), so the provider's key stays where the SDK puts it: `Authorization: Bearer`
(OpenAI), `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini). Those are passed through to
the provider unchanged and never kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from services.gateway.auth import API_KEY_HEADER as AUTH_API_KEY_HEADER
from services.gateway.errors import HttpProblem
from services.gateway.json_body import INVALID, JsonRefused, read_json
from services.proxy.usage import Provider
from shared.messages.envelope import ErrorBody

MNO_HEADER_PREFIX = "x-mno-"
API_KEY_HEADER = AUTH_API_KEY_HEADER  # ours, never forwarded (all X-MNO-* are ours)
PROJECT_HEADER = "X-MNO-Project"
USER_HEADER = "X-MNO-User"

# RFC 9110 §7.6.1 hop-by-hop headers, plus what the forwarder sets itself. Cookies are the edge's
# (a session cookie must not travel to a provider); X-MNO-* are ours.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
        "cookie",
        "x-request-id",
        "traceparent",
        "tracestate",
    }
)
_NOT_RETURNED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "set-cookie",
        "date",
        "server",
    }
)


def upstream_headers(incoming: CIMultiDictProxy[str] | Mapping[str, str]) -> CIMultiDict[str]:
    """The caller's headers as the provider should see them: its own key included, ours removed;
    plain (identity) encoding asked for, so the answer can be read for usage as it passes."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lowered = name.lower()
        if lowered in _NOT_FORWARDED or lowered.startswith(MNO_HEADER_PREFIX):
            continue
        headers.add(name, value)
    headers["Accept-Encoding"] = "identity"
    return headers


def client_headers(upstream: CIMultiDictProxy[str] | Mapping[str, str]) -> CIMultiDict[str]:
    """The provider's answer headers the caller gets (rate-limit and request-id headers included)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        if name.lower() not in _NOT_RETURNED:
            headers.add(name, value)
    return headers


_GEMINI_MODEL = re.compile(r"(?:^|/)models/([^/:]+):")


def requested_model(provider: Provider, tail: str, body: bytes) -> str | None:
    """The model the caller asked for: the body's `model` (OpenAI, Anthropic) or the path's
    `models/<model>:<method>` (Gemini). The budget pre-check scopes by it; the answer's model wins
    when the call is recorded."""
    if provider is Provider.GEMINI:
        match = _GEMINI_MODEL.search(tail)
        return match.group(1) if match else None
    document = _json_object(body)
    model = document.get("model") if document is not None else None
    return model if isinstance(model, str) and model else None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = read_json(body)
    except JsonRefused as refused:
        if refused.kind == INVALID:
            return None  # not JSON: the provider answers it in its own words
        # JSON we cannot read (too deep, a number too large) would pass the budget check unscoped.
        raise HttpProblem(refused.body.code, refused.body.message, refused.body.details) from refused
    return document if isinstance(document, dict) else None


def ask_for_stream_usage(provider: Provider, tail: str, body: bytes) -> tuple[bytes, bool]:
    """OpenAI Chat Completions streams carry usage only when `stream_options.include_usage` is true:
    set it when the caller streams without it. Returns the body to send and whether it was changed
    (then the extra usage chunk is kept from the caller, who did not ask for it). Other fields of
    `stream_options` are kept; a caller that set include_usage (true or false) is not overruled —
    with false, the call is recorded as unrecorded (no usage), as the caller chose."""
    if provider is not Provider.OPENAI or not tail.rstrip("/").endswith("chat/completions"):
        return body, False
    document = _json_object(body)
    if document is None or document.get("stream") is not True:
        return body, False
    options = document.get("stream_options")
    if options is None:
        options = {}
    if not isinstance(options, dict) or "include_usage" in options:
        return body, False
    document["stream_options"] = {**options, "include_usage": True}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(), True


# -- errors in each provider's own shape, so its SDK shows our message --------------------------------

_OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_document(provider: Provider, error: ErrorBody, status: int) -> dict[str, Any]:
    """Our error (no or invalid MNO key, a budget, the upstream unreachable) as the provider's SDK
    expects errors: its `message` prefixed with "MNO proxy:" so nobody mistakes it for the provider's,
    our code kept (`code`/`type`/`status` where the shape has room, details under `mno`)."""
    message = f"MNO proxy: {error.message}"
    if provider is Provider.OPENAI:
        kind = _OPENAI_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        body: dict[str, Any] = {
            "message": message,
            "type": kind,
            "param": None,
            "code": f"mno_{error.code.value}",
        }
        return {"error": body, "mno": {"code": error.code.value, "details": error.details}}
    if provider is Provider.ANTHROPIC:
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {
            "type": "error",
            "error": {"type": kind, "message": message},
            "mno": {"code": error.code.value, "details": error.details},
        }
    google = _GOOGLE_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {
        "error": {
            "code": status,
            "message": message,
            "status": google,
            "details": [{"@type": "mno.error", "code": error.code.value, "details": error.details}],
        }
    }
