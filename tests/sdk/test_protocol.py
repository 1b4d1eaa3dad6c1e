"""The wire protocol's pure decisions: what each answer means, Retry-After, backoff, and base URLs."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from mno_sdk.protocol import Action, backoff_delay, classify, parse_retry_after
from mno_sdk.transport import HttpTransport


def _error_body(code: str, message: str) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "details": []}, "correlation_id": "c-9"}
    ).encode()


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (400, Action.FAIL),
        (401, Action.FAIL),
        (403, Action.FAIL),
        (404, Action.FAIL),
        (422, Action.FAIL),
        (402, Action.HALT),
        (413, Action.SPLIT),
        (408, Action.RETRY),
        (429, Action.RETRY),
        (500, Action.RETRY),
        (502, Action.RETRY),
        (503, Action.RETRY),
        (504, Action.RETRY),
    ],
)
def test_each_status_has_its_action(status: int, action: Action) -> None:
    """Client errors fail, 402 halts, 413 splits, 408/429/5xx retry."""
    outcome = classify(status, _error_body("x", "y"))
    assert outcome.action is action
    assert outcome.error is not None
    assert outcome.error.status == status


@pytest.mark.parametrize("status", [504, 409])
def test_an_unknown_outcome_is_retried_whatever_the_status(status: int) -> None:
    """`outcome_unknown` (the events may be stored) means resend the batch, even where a proxy on
    the way turned the edge's 504 into another status."""
    outcome = classify(status, _error_body("outcome_unknown", "the outcome is unknown"))
    assert outcome.action is Action.RETRY
    assert outcome.error is not None
    assert outcome.error.code == "outcome_unknown"


def test_the_error_body_is_read() -> None:
    """The edge's typed error body gives code, message and the correlation id."""
    error = classify(402, _error_body("payment_required", "monthly limit reached")).error
    assert error is not None
    assert (error.code, error.message, error.request_id) == (
        "payment_required",
        "monthly limit reached",
        "c-9",
    )


def test_a_proxy_error_page_is_still_an_error() -> None:
    """A non-JSON 502 from a proxy is retried, with its text as the message."""
    outcome = classify(502, b"<html>Bad Gateway</html>")
    assert outcome.action is Action.RETRY
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.message) == ("http_502", "<html>Bad Gateway</html>")


def test_a_200_that_is_not_an_ingest_result_fails() -> None:
    """A 200 from something that is not the ingest endpoint (wrong base_url) is not counted as sent."""
    outcome = classify(200, b"<html>welcome</html>")
    assert outcome.action is Action.FAIL
    assert outcome.error is not None
    assert outcome.error.code == "unexpected_response"


def test_retry_after_in_both_forms() -> None:
    """Retry-After is read as delta-seconds or as an HTTP-date; garbage is ignored."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    outcome = classify(429, _error_body("rate_limited", "budget"), retry_after="3")
    assert outcome.retry_after == 3.0


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    """Delay n lies in [d/2, d] for d = min(cap, base * 2**n), and varies between clients."""
    rng = random.Random(1)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 30.0), (100, 30.0)]:
        delays = {backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("http://mno.local:8080", "http://mno.local:8080/api/v1/token-events"),
        ("https://mno.example.com/", "https://mno.example.com/api/v1/token-events"),
        ("https://example.com/tools/mno", "https://example.com/tools/mno/api/v1/token-events"),
    ],
)
def test_the_endpoint_is_under_any_base_url(base_url: str, url: str) -> None:
    """The ingest path is appended to the base URL, keeping its scheme, port and path prefix."""
    assert HttpTransport(base_url, "mno_k", timeout=1, user_agent="t").url == url


@pytest.mark.parametrize(
    ("base_url", "api_key"),
    [
        ("ftp://mno.local", "mno_k"),
        ("mno.local:8080", "mno_k"),
        ("http://h/?x=1", "mno_k"),
        ("http://h", "a\r\nb"),
    ],
)
def test_malformed_settings_are_refused(base_url: str, api_key: str) -> None:
    """A base URL that is not http(s) with a host, or a key with line breaks, raises ValueError."""
    with pytest.raises(ValueError, match=r"base_url|api_key"):
        HttpTransport(base_url, api_key, timeout=1, user_agent="t")
