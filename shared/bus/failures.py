"""Which failures of an event handler are worth retrying.

A permanent failure comes from the message itself (data no store can take, a constraint it
violates, a payload that does not validate): every redelivery fails the same way, so retrying only
delays the messages behind it and multiplies the dead letters. It goes to the DLQ at once, with the
reason. Everything else (timeouts, lost connections, a database restarting, errors we do not know)
is transient and retried with backoff: when in doubt, retrying is the safe side, because a
transient failure dead-lettered at once would be work lost to a blip.
"""

from __future__ import annotations

import re
from enum import StrEnum

import asyncpg
from pydantic import ValidationError

from shared.messages.envelope import ErrorBody


class Disposition(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"


class PermanentError(Exception):
    """Raised by a handler for an event that can never succeed (bad data, a broken invariant)."""


# Class 22 (data exception: a NUL in text, a number out of range, bad encoding) and class 23
# (integrity constraint violation: unique, foreign key, check, not null). A unique violation that a
# concurrent delivery of the same message caused cannot reach here: inbox claims use ON CONFLICT.
_PERMANENT: tuple[type[BaseException], ...] = (
    PermanentError,
    ValidationError,
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
REASON_MAX_CHARS = 500


def classify(error: BaseException) -> Disposition:
    """Permanent when the error, or an error it was raised from (`raise ... from`), is of a class
    that bad data causes; transient otherwise."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, _PERMANENT):
            return Disposition.PERMANENT
        seen.add(id(current))
        current = current.__cause__
    return Disposition.TRANSIENT


def reason_of(error: BaseException) -> str:
    """One line for a NATS header: the error's class and message, control characters folded to a
    space (a header cannot carry line breaks), bounded in length."""
    return _header_safe(f"{type(error).__name__}: {error}")


def decode_reason(body: ErrorBody) -> str:
    """Why a message could not be decoded, naming the fields at fault (`loc: message` each)."""
    where = "; ".join(f"{d.get('loc', '')}: {d.get('message', '')}" for d in body.details)
    return _header_safe(f"{body.message}: {where}" if where else body.message)


def _header_safe(text: str) -> str:
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= REASON_MAX_CHARS else text[: REASON_MAX_CHARS - 3] + "..."
