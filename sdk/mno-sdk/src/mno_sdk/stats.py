"""What happened to the events a client recorded: counters, and the server's rejection reasons."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from mno_sdk.errors import MnoApiError

MAX_KEPT_REJECTIONS = 100


@dataclass(frozen=True)
class Rejection:
    """One event the server refused, with its per-field errors (pydantic-style dicts)."""

    event_id: str | None
    errors: tuple[Mapping[str, object], ...]


@dataclass(frozen=True)
class Stats:
    """A snapshot. Every recorded event ends up in exactly one of sent / rejected / failed / dropped
    (or is still queued or in flight)."""

    sent: int = 0  # accepted by the server (now, or before: see `duplicates`)
    duplicates: int = 0  # of `sent`, those the server recognised as sent before (a resend)
    rejected: int = 0  # refused by the server one by one (see `rejections`, `rejection_reasons`)
    failed: int = 0  # not delivered: an error answer, retries exhausted, or sending stopped (402)
    dropped: int = 0  # never queued: the queue was full or the client closed
    retries: int = 0  # resends of a batch
    queued: int = 0  # waiting in the queue (a batch in flight is no longer counted here)
    invalid_tracked: int = 0  # `track` blocks whose response carried no usable usage
    halted: bool = False  # sending stopped for good (plan limit, 402)
    last_error: MnoApiError | None = None
    rejections: tuple[Rejection, ...] = ()  # the latest MAX_KEPT_REJECTIONS
    rejection_reasons: Mapping[str, int] = field(default_factory=dict)


class Counters:
    """The mutable, thread-safe side of `Stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        self._rejections: deque[Rejection] = deque(maxlen=MAX_KEPT_REJECTIONS)
        self._last_error: MnoApiError | None = None
        self._halted = False

    def add(self, name: str, count: int = 1) -> int:
        with self._lock:
            self._counts[name] += count
            return self._counts[name]

    def reject(self, rejection: Rejection) -> None:
        with self._lock:
            self._counts["rejected"] += 1
            self._rejections.append(rejection)
            for error in rejection.errors or ({},):
                self._reasons[_reason(error)] += 1

    def error(self, error: MnoApiError, *, halt: bool = False) -> None:
        with self._lock:
            self._last_error = error
            self._halted = self._halted or halt

    @property
    def halted(self) -> bool:
        return self._halted

    def resume(self) -> None:
        with self._lock:
            self._halted = False

    def snapshot(self, queued: int) -> Stats:
        with self._lock:
            return Stats(
                sent=self._counts["sent"],
                duplicates=self._counts["duplicates"],
                rejected=self._counts["rejected"],
                failed=self._counts["failed"],
                dropped=self._counts["dropped"],
                retries=self._counts["retries"],
                invalid_tracked=self._counts["invalid_tracked"],
                queued=queued,
                halted=self._halted,
                last_error=self._last_error,
                rejections=tuple(self._rejections),
                rejection_reasons=dict(self._reasons),
            )


def _reason(error: Mapping[str, object]) -> str:
    """A short key for counting: 'field: message'. The edge sends `loc` as a dotted string
    ("tags.env"); pydantic's own errors have it as a list of parts: both name the field."""
    message = str(error.get("msg") or error.get("message") or error.get("type") or "rejected")
    loc = error.get("loc")
    if isinstance(loc, (list, tuple)) and loc:
        return f"{'.'.join(str(part) for part in loc)}: {message}"
    if isinstance(loc, (str, int)) and str(loc):
        return f"{loc}: {message}"
    return message
