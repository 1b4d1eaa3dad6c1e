"""`X-Hub-Signature-256` verification: HMAC-SHA256 of the raw body, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import StrEnum

PREFIX = "sha256="


class SignatureProblem(StrEnum):
    MISSING = "the X-Hub-Signature-256 header is missing"
    SHA1_ONLY = "only an X-Hub-Signature (SHA-1) header was sent; SHA-1 signatures are not accepted"
    MALFORMED = "the X-Hub-Signature-256 header is not sha256=<64 hex digits>"
    MISMATCH = "the signature does not match the body"


def sign(body: bytes, secret: str) -> str:
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(
    body: bytes, signature_256: str | None, signature_sha1: str | None, secrets: Sequence[str]
) -> SignatureProblem | None:
    """None when the body was signed with one of `secrets` (current first, then previous ones
    during a rotation); otherwise what is wrong. Every secret is tried, so timing says nothing
    about which one matched."""
    if not signature_256:
        return SignatureProblem.SHA1_ONLY if signature_sha1 else SignatureProblem.MISSING
    presented = signature_256.strip()
    digest = presented.removeprefix(PREFIX)
    if (
        not presented.startswith(PREFIX)
        or len(digest) != 64
        or not all(c in "0123456789abcdef" for c in digest)
    ):
        return SignatureProblem.MALFORMED
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(body, secret).encode(), presented.encode())
    return None if matched else SignatureProblem.MISMATCH
