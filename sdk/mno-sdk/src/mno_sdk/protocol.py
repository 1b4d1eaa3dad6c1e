"""The ingest endpoint's wire protocol as pure functions: encoding a batch, reading the answer, and
deciding what to do next (done, retry, give up, stop sending, split the batch). No I/O here."""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import ValidationError

from mno_sdk.errors import MnoApiError
from mno_wire.token_events import IngestResult

INGEST_PATH = "/api/v1/token-events"

# 408/429 and every 5xx can succeed later; resending is safe because every event carries its id.
_RETRYABLE = frozenset({408, 429})
# Error codes that mean "resend the same batch", whatever the status a proxy on the way made of it:
# `outcome_unknown` says the events may be stored already, and their ids make a resend count once.
_RETRYABLE_CODES = frozenset({"outcome_unknown"})
_MAX_MESSAGE_CHARS = 500


class Action(enum.Enum):
    DONE = "done"
    RETRY = "retry"
    FAIL = "fail"
    HALT = "halt"
    SPLIT = "split"


@dataclass(frozen=True)
class Outcome:
    """What one HTTP answer means for the batch that was sent."""

    action: Action
    result: IngestResult | None = None
    error: MnoApiError | None = None
    retry_after: float | None = None


def encode_batch(events: Sequence[Mapping[str, Any]]) -> bytes:
    return json.dumps({"events": list(events)}, separators=(",", ":"), ensure_ascii=False).encode()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter for retry number `attempt` (0-based).

    Half the delay is fixed and half random ("equal jitter"): clients that failed together spread
    out, yet none retries almost at once.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt, 62))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def error_of(status: int, body: bytes, request_id: str | None) -> MnoApiError:
    """The typed error of a non-2xx answer; tolerant of bodies that are not the edge's shape (proxies)."""
    code, message, details = f"http_{status}", "", []
    try:
        data = json.loads(body)
    except ValueError:
        message = body[:_MAX_MESSAGE_CHARS].decode("utf-8", "replace").strip()
    else:
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code") or code)
            message = str(error.get("message") or "")
            raw_details = error.get("details")
            if isinstance(raw_details, list):
                details = [d for d in raw_details if isinstance(d, dict)]
        if request_id is None and isinstance(data, dict) and isinstance(data.get("correlation_id"), str):
            request_id = data["correlation_id"]
    return MnoApiError(status, code, message or f"HTTP {status}", details=details, request_id=request_id)


def classify(
    status: int, body: bytes, *, retry_after: str | None = None, request_id: str | None = None
) -> Outcome:
    """Decide what an answer to a batch means."""
    if 200 <= status < 300:
        try:
            return Outcome(Action.DONE, result=IngestResult.model_validate_json(body))
        except ValidationError:
            error = MnoApiError(
                status, "unexpected_response", "the answer is not an ingest result", request_id=request_id
            )
            return Outcome(Action.FAIL, error=error)
    error = error_of(status, body, request_id)
    if status == 402:
        return Outcome(Action.HALT, error=error)
    if status == 413:
        return Outcome(Action.SPLIT, error=error)
    if status in _RETRYABLE or status >= 500 or error.code in _RETRYABLE_CODES:
        return Outcome(Action.RETRY, error=error, retry_after=parse_retry_after(retry_after))
    return Outcome(Action.FAIL, error=error)
