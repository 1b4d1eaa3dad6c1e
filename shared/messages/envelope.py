"""The one envelope every message on the bus travels in, and the typed error it can carry instead."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def new_message_id() -> str:
    """A sortable, unique id: 48 bits of milliseconds then 80 random bits, as 32 hex digits.

    Sortable ids keep JetStream dedup keys and inbox rows in arrival order, which makes
    debugging by id far easier than with random UUIDs.
    """
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


class ErrorCode(StrEnum):
    """Machine-readable error codes shared by the bus and the HTTP edge."""

    BAD_REQUEST = "bad_request"
    VALIDATION_FAILED = "validation_failed"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYMENT_REQUIRED = "payment_required"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    # A write whose outcome is not known (a publish never acknowledged): it may have been stored.
    # Retrying with the same ids is safe; they are deduplicated.
    OUTCOME_UNKNOWN = "outcome_unknown"
    INTERNAL = "internal"


class ErrorBody(BaseModel):
    """A typed error: what went wrong (code), for whom it is written (message), and where (details)."""

    model_config = ConfigDict(frozen=True)

    code: ErrorCode
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class Principal(BaseModel):
    """Who a message acts for, as authenticated at the edge. Agents trust this, never a payload's team id."""

    model_config = ConfigDict(frozen=True)

    team_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    roles: tuple[str, ...] = ()
    # For an API key: exactly what it may do (a subset of its creator's permissions at creation).
    # None for people, whose roles decide.
    permissions: tuple[str, ...] | None = None

    @classmethod
    def system(cls) -> Principal:
        """The principal for work the platform does by itself (schedules, reconciliation)."""
        return cls(user_id="system", roles=("system",))


class Envelope(BaseModel):
    """Metadata common to every request, reply and event; `payload` is validated against the
    registered model for `type` at each end, so no untyped dict escapes the codec."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_message_id)
    type: str
    schema_version: int = SCHEMA_VERSION
    correlation_id: str
    causation_id: str | None = None
    sent_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str
    principal: Principal = Field(default_factory=Principal)
    payload: dict[str, Any] | None = None
    error: ErrorBody | None = None
