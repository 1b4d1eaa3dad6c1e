"""How typed errors become HTTP responses: one status per code, one JSON body shape."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from shared.messages.envelope import ErrorBody, ErrorCode

STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYMENT_REQUIRED: 402,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.OUTCOME_UNKNOWN: 504,
    ErrorCode.INTERNAL: 500,
}

CODE_OF_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_FAILED,
    429: ErrorCode.RATE_LIMITED,
}


class ErrorResponse(BaseModel):
    """The body of every non-2xx answer of the API."""

    error: ErrorBody
    correlation_id: str


class HttpProblem(Exception):
    """Raised inside the edge to answer with a typed error."""

    def __init__(self, code: ErrorCode, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.body = ErrorBody(code=code, message=message, details=details or [])


def error_response(
    body: ErrorBody, correlation_id: str, *, status: int | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    payload = ErrorResponse(error=body, correlation_id=correlation_id)
    return web.Response(
        text=payload.model_dump_json(),
        status=status or STATUS_OF[body.code],
        content_type="application/json",
        headers=headers,
    )
