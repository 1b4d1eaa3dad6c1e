"""Signatures of outgoing alert webhooks, Stripe-style, and their verification for receivers.

    X-MNO-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is inside the MAC, so a receiver that rejects old timestamps also rejects a captured
request replayed later. A header may carry several `v1=` values (one per secret while a secret is
rotated); it verifies when any of them matches.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

__all__ = ["SIGNATURE_SCHEME", "sign", "signature_header", "verify_signature"]

SIGNATURE_SCHEME = "v1"


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>`."""
    return hmac.new(_key(secret), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},{SIGNATURE_SCHEME}={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    now: datetime | float,
    tolerance_seconds: float = 300,
) -> bool:
    """Whether `header` (X-MNO-Signature) signs `body` with `secret` at a time within
    `tolerance_seconds` of `now` (a datetime or unix seconds). Pass the raw body as received,
    before any JSON parsing."""
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == SIGNATURE_SCHEME and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    # Both directions: a timestamp far in the future is as suspect as one far in the past.
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    # Compare every candidate, so the time taken says nothing about which (if any) matched.
    matches = [
        hmac.compare_digest(expected.encode("ascii"), c.encode("ascii", "replace")) for c in candidates
    ]
    return any(matches)
