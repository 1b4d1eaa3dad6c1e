"""X-Hub-Signature-256 verification, checked against GitHub's published test vector."""

from __future__ import annotations

from services.webhooks.signature import SignatureProblem, sign, verify_signature

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
EXPECTED = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_published_test_vector() -> None:
    """Our signature of GitHub's example equals the value GitHub publishes, and it verifies."""
    assert sign(BODY, SECRET) == EXPECTED
    assert verify_signature(BODY, EXPECTED, None, [SECRET]) is None


def test_previous_secret_still_verifies_during_rotation() -> None:
    """With [new, old] configured, a body signed with the old secret is accepted."""
    assert verify_signature(BODY, EXPECTED, None, ["the new secret", SECRET]) is None


def test_wrong_secret_or_altered_body_is_a_mismatch() -> None:
    """A signature over other bytes, or with another secret, is refused."""
    assert verify_signature(BODY + b" ", EXPECTED, None, [SECRET]) is SignatureProblem.MISMATCH
    assert verify_signature(BODY, EXPECTED, None, ["other"]) is SignatureProblem.MISMATCH


def test_missing_and_sha1_only_are_refused() -> None:
    """No signature is refused; a SHA-1 X-Hub-Signature alone is refused by name."""
    assert verify_signature(BODY, None, None, [SECRET]) is SignatureProblem.MISSING
    assert verify_signature(BODY, None, "sha1=abc", [SECRET]) is SignatureProblem.SHA1_ONLY


def test_malformed_signatures_are_refused() -> None:
    """Wrong prefix, wrong length or non-hex digits are malformed, not compared."""
    for header in ("sha1=" + "0" * 64, "sha256=" + "0" * 63, "sha256=" + "g" * 64, EXPECTED.upper()):
        assert verify_signature(BODY, header, None, [SECRET]) is SignatureProblem.MALFORMED
