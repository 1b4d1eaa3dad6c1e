"""What one delivery attempt came to, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OutcomeKind(StrEnum):
    SENT = "sent"
    # Trying again later may work: connection failures, timeouts, HTTP 429/5xx, SMTP 4xx.
    TRANSIENT = "transient"
    # Trying again will not help: other 4xx, SMTP 5xx, a refused destination.
    PERMANENT = "permanent"


@dataclass(frozen=True)
class DeliveryOutcome:
    kind: OutcomeKind
    response_code: int | None = None
    error: str | None = None
    # What the receiver asked for (HTTP Retry-After), in seconds; the retry policy bounds it.
    retry_after_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.SENT

    @classmethod
    def sent(cls, response_code: int | None = None) -> DeliveryOutcome:
        return cls(OutcomeKind.SENT, response_code)

    @classmethod
    def transient(
        cls, error: str, response_code: int | None = None, retry_after_seconds: float | None = None
    ) -> DeliveryOutcome:
        return cls(OutcomeKind.TRANSIENT, response_code, error, retry_after_seconds)

    @classmethod
    def permanent(cls, error: str, response_code: int | None = None) -> DeliveryOutcome:
        return cls(OutcomeKind.PERMANENT, response_code, error)
