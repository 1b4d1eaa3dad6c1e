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
    verifier = StreamingVerifier(secrets)
    verifier.update(body)
    return verifier.verify(signature_256, signature_sha1)


def check_header(signature_256: str | None, signature_sha1: str | None) -> SignatureProblem | None:
    """What is wrong with the signature header itself, before a byte of the body is read."""
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
    return None


class StreamingVerifier:
    """The same check as `verify_signature`, fed chunk by chunk as the body arrives, so the body
    is verified the moment its last byte is in (no second pass over up to 25 MB)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._macs = [hmac.new(secret.encode(), digestmod=hashlib.sha256) for secret in secrets]

    def update(self, chunk: bytes) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def verify(self, signature_256: str | None, signature_sha1: str | None) -> SignatureProblem | None:
        problem = check_header(signature_256, signature_sha1)
        if problem is not None:
            return problem
        assert signature_256 is not None  # check_header refuses a missing one
        presented = signature_256.strip().encode()
        matched = False
        for mac in self._macs:
            matched |= hmac.compare_digest((PREFIX + mac.hexdigest()).encode(), presented)
        return None if matched else SignatureProblem.MISMATCH
