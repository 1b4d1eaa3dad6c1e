"""Encoding and decoding of envelopes, and turning validation failures into typed errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.bus.context import CORRELATION_HEADER, MESSAGE_TYPE_HEADER, MessageContext, TraceParent
from shared.bus.context import TRACEPARENT_HEADER as TRACEPARENT
from shared.messages.envelope import Envelope, ErrorBody, ErrorCode
from shared.messages.registry import message_type

ModelT = TypeVar("ModelT", bound=BaseModel)


class DecodeError(Exception):
    """A message that cannot be turned into the expected typed payload."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


def validation_details(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as plain JSON: where (dotted path), what, and the error type."""
    return [
        {
            "loc": ".".join(str(part) for part in item["loc"]),
            "message": item["msg"],
            "type": item["type"],
        }
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def envelope_for(
    payload: BaseModel, ctx: MessageContext, source: str, message_id: str | None = None
) -> Envelope:
    fields: dict[str, Any] = {
        "type": message_type(type(payload)),
        "correlation_id": ctx.correlation_id,
        "causation_id": ctx.causation_id,
        "source": source,
        "principal": ctx.principal,
        "payload": payload.model_dump(mode="json"),
    }
    if message_id is not None:
        fields["id"] = message_id
    return Envelope(**fields)


def error_envelope(error: ErrorBody, ctx: MessageContext, source: str) -> Envelope:
    return Envelope(
        type="error",
        correlation_id=ctx.correlation_id,
        causation_id=ctx.causation_id,
        source=source,
        principal=ctx.principal,
        error=error,
    )


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json(exclude_none=True).encode()


def headers_for(envelope: Envelope, ctx: MessageContext) -> dict[str, str]:
    return {**ctx.headers(), MESSAGE_TYPE_HEADER: envelope.type}


def decode_envelope(data: bytes) -> Envelope:
    try:
        return Envelope.model_validate_json(data)
    except ValidationError as error:
        raise DecodeError(
            ErrorBody(
                code=ErrorCode.BAD_REQUEST,
                message="the message is not a valid envelope",
                details=validation_details(error),
            )
        ) from error


def decode_payload(envelope: Envelope, model: type[ModelT]) -> ModelT:
    if envelope.payload is None:
        raise DecodeError(ErrorBody(code=ErrorCode.BAD_REQUEST, message="the envelope carries no payload"))
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as error:
        raise DecodeError(
            ErrorBody(
                code=ErrorCode.VALIDATION_FAILED,
                message=f"invalid {message_type(model)}",
                details=validation_details(error),
            )
        ) from error


def context_from(envelope: Envelope, headers: dict[str, str] | None) -> MessageContext:
    """The handling context of a received message: its trace continues, and it causes what follows."""
    headers = headers or {}
    trace = TraceParent.parse(headers.get(TRACEPARENT)) or TraceParent.new()
    return MessageContext(
        correlation_id=headers.get(CORRELATION_HEADER) or envelope.correlation_id,
        trace=trace,
        principal=envelope.principal,
        causation_id=envelope.id,
    )
