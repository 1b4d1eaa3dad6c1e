"""Encoding and decoding of envelopes, and turning validation failures into typed errors."""

from __future__ import annotations

import functools
from typing import Any, Optional, TypeVar

from pydantic import BaseModel, ValidationError, create_model

from shared.bus.context import CORRELATION_HEADER, MESSAGE_TYPE_HEADER, MessageContext, TraceParent
from shared.bus.context import TRACEPARENT_HEADER as TRACEPARENT
from shared.messages.envelope import Envelope, ErrorBody, ErrorCode
from shared.messages.fields import CONTROL_CHARACTER, control_character_error
from shared.messages.registry import message_type

ModelT = TypeVar("ModelT", bound=BaseModel)


class DecodeError(Exception):
    """A message that cannot be turned into the expected typed payload."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


def validation_details(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as plain JSON: where (dotted path), what, and the error type."""
    details = []
    for item in error.errors(include_url=False, include_context=True, include_input=False):
        control = control_character_error(item["type"], item.get("ctx"))
        details.append(
            {
                "loc": ".".join(str(part) for part in item["loc"]),
                "message": control or item["msg"],
                "type": CONTROL_CHARACTER if control else item["type"],
            }
        )
    return details


@functools.cache
def typed_envelope(model: type[BaseModel]) -> type[Envelope]:
    """The envelope with `payload` typed as `model`: a message is encoded, or parsed and validated,
    in one pass (a plain envelope would go through a dict of the payload each way, which costs
    about twice as much for large event batches). Its JSON is the plain envelope's."""
    payload_type: Any = Optional[model]  # noqa: UP045 (a runtime type expression, not an annotation)
    typed: type[Envelope] = create_model(
        f"Envelope[{model.__name__}]", __base__=Envelope, payload=(payload_type, None)
    )
    return typed


def envelope_for(
    payload: BaseModel, ctx: MessageContext, source: str, message_id: str | None = None
) -> Envelope:
    fields: dict[str, Any] = {
        "type": message_type(type(payload)),
        "correlation_id": ctx.correlation_id,
        "causation_id": ctx.causation_id,
        "source": source,
        "principal": ctx.principal,
        "payload": payload,
    }
    if message_id is not None:
        fields["id"] = message_id
    return typed_envelope(type(payload))(**fields)


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
    # Absent envelope fields are left out; None inside the payload is data and stays.
    absent = {name for name in ("causation_id", "payload", "error") if getattr(envelope, name) is None}
    return envelope.model_dump_json(exclude=absent).encode()


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
    if isinstance(envelope.payload, model):
        return envelope.payload
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


def decode_message(data: bytes, model: type[ModelT]) -> tuple[Envelope, ModelT]:
    """Envelope and typed payload in one pass; the same DecodeError as `decode_envelope` followed by
    `decode_payload` when the message is not an envelope or its payload is invalid."""
    try:
        envelope = typed_envelope(model).model_validate_json(data)
    except ValidationError:
        # The slow path names what is wrong: the envelope, or the payload.
        envelope = decode_envelope(data)
        return envelope, decode_payload(envelope, model)
    if not isinstance(envelope.payload, model):
        raise DecodeError(ErrorBody(code=ErrorCode.BAD_REQUEST, message="the envelope carries no payload"))
    return envelope, envelope.payload


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
