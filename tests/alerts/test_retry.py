"""The retry policy and the classification of HTTP answers (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from services.alerts.outcome import OutcomeKind
from services.alerts.retry import RetryPolicy, classify_http_status, parse_retry_after


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    """With no randomness the delay is half its ceiling; with full randomness the ceiling, capped."""
    policy = RetryPolicy(max_attempts=10, base_delay_seconds=2, max_delay_seconds=30)
    assert [policy.delay(n, rand=lambda: 1.0) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert [policy.delay(n, rand=lambda: 0.0) for n in range(1, 5)] == [1, 2, 4, 8]
    assert policy.delay(10_000, rand=lambda: 1.0) == 30


def test_jitter_spreads_delays_within_bounds() -> None:
    """Random delays for the same attempt fall between half the ceiling and the ceiling, and vary."""
    policy = RetryPolicy(base_delay_seconds=4, max_delay_seconds=100)
    delays = {policy.delay(3) for _ in range(50)}
    assert all(8 <= d <= 16 for d in delays)
    assert len(delays) > 1


def test_retry_after_is_honoured_but_bounded() -> None:
    """A receiver's Retry-After replaces the backoff, up to max_retry_after_seconds."""
    policy = RetryPolicy(max_retry_after_seconds=60)
    assert policy.delay(1, retry_after_seconds=7) == 7
    assert policy.delay(1, retry_after_seconds=86_400) == 60
    assert policy.delay(1, retry_after_seconds=-5) == 0


def test_attempts_are_limited() -> None:
    """can_retry is true until max_attempts attempts were made."""
    policy = RetryPolicy(max_attempts=3)
    assert [policy.can_retry(n) for n in (1, 2, 3, 4)] == [True, True, False, False]
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_http_statuses_are_classified() -> None:
    """2xx sent; 408, 429 and 5xx transient; other 4xx and 3xx permanent."""
    assert classify_http_status(200) is OutcomeKind.SENT
    assert classify_http_status(204) is OutcomeKind.SENT
    for status in (408, 429, 500, 502, 503, 504):
        assert classify_http_status(status) is OutcomeKind.TRANSIENT, status
    for status in (301, 302, 400, 401, 403, 404, 410, 422):
        assert classify_http_status(status) is OutcomeKind.PERMANENT, status


def test_retry_after_parses_seconds_and_dates() -> None:
    """Retry-After as delta-seconds or an HTTP-date; garbage and absence give None."""
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None
