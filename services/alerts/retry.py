"""When to try a failed delivery again: a pure policy and the classification of HTTP answers."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from services.alerts.outcome import OutcomeKind

__all__ = ["RetryPolicy", "classify_http_status", "parse_retry_after"]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits about base * 2**(n-1), capped.

    The jitter ("equal jitter": half fixed, half random) spreads the retries of many alerts that
    failed together (a receiver outage) instead of sending them back in one burst.
    """

    max_attempts: int = 5
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 600.0
    # A receiver's Retry-After is honoured up to this; beyond it, this is used instead.
    max_retry_after_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_seconds < 0 or self.max_delay_seconds < self.base_delay_seconds:
            raise ValueError("need 0 <= base_delay_seconds <= max_delay_seconds")
        if self.max_retry_after_seconds < 0:
            raise ValueError("max_retry_after_seconds must not be negative")

    def can_retry(self, attempts_made: int) -> bool:
        return attempts_made < self.max_attempts

    def delay(
        self,
        attempts_made: int,
        retry_after_seconds: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before the attempt after `attempts_made` failed ones (1 = after the first)."""
        if retry_after_seconds is not None:
            return min(max(retry_after_seconds, 0.0), self.max_retry_after_seconds)
        exponent = min(max(attempts_made - 1, 0), 62)  # 2**62 s is beyond any cap; avoids overflow
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2.0**exponent)
        return ceiling / 2 + rand() * ceiling / 2


def classify_http_status(status: int) -> OutcomeKind:
    """2xx sent; 408, 429 and 5xx worth retrying; the rest (other 4xx, and 1xx/3xx, since
    redirects are not followed) permanent."""
    if 200 <= status < 300:
        return OutcomeKind.SENT
    if status in (408, 429) or 500 <= status < 600:
        return OutcomeKind.TRANSIENT
    return OutcomeKind.PERMANENT


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP-date); None if absent or garbled."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
