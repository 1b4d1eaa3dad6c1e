"""Webhook signatures: what receivers check with verify_signature."""

from __future__ import annotations

from datetime import UTC, datetime

from services.alerts.signing import sign, signature_header, verify_signature

SECRET = "whsec-test"
BODY = b'{"id":"a1","alert":{"title":"Budget at 80%"}}'
T = 1_700_000_000


def test_a_valid_signature_verifies() -> None:
    """A header made with the secret verifies at its own time and within the tolerance."""
    header = signature_header(SECRET, T, BODY)
    assert header == f"t={T},v1={sign(SECRET, T, BODY)}"
    assert verify_signature(SECRET, header, BODY, now=T)
    assert verify_signature(SECRET, header, BODY, now=T + 299)
    assert verify_signature(SECRET, header, BODY, now=datetime.fromtimestamp(T + 10, UTC))


def test_a_tampered_body_fails() -> None:
    """Changing one byte of the body breaks the signature."""
    header = signature_header(SECRET, T, BODY)
    assert not verify_signature(SECRET, header, BODY.replace(b"80", b"90"), now=T)


def test_an_old_or_future_timestamp_fails() -> None:
    """A replay after the tolerance, or a timestamp from the future, is refused."""
    header = signature_header(SECRET, T, BODY)
    assert not verify_signature(SECRET, header, BODY, now=T + 301)
    assert not verify_signature(SECRET, header, BODY, now=T - 301)
    assert verify_signature(SECRET, header, BODY, now=T + 3000, tolerance_seconds=3600)


def test_a_changed_timestamp_fails() -> None:
    """The timestamp is inside the MAC: moving it forward to dodge the replay check breaks it."""
    mac = sign(SECRET, T, BODY)
    assert not verify_signature(SECRET, f"t={T + 600},v1={mac}", BODY, now=T + 600)


def test_the_wrong_secret_fails() -> None:
    """A signature made with another secret does not verify."""
    header = signature_header("another-secret", T, BODY)
    assert not verify_signature(SECRET, header, BODY, now=T)


def test_any_of_several_signatures_may_match() -> None:
    """During a rotation a header with two v1 values verifies with either secret."""
    header = f"t={T},v1={sign('old', T, BODY)},v1={sign('new', T, BODY)}"
    assert verify_signature("old", header, BODY, now=T)
    assert verify_signature("new", header, BODY, now=T)
    assert not verify_signature("other", header, BODY, now=T)


def test_malformed_headers_fail() -> None:
    """Missing, empty or garbled headers never verify."""
    mac = sign(SECRET, T, BODY)
    for header in (None, "", "v1=" + mac, f"t={T}", f"t=abc,v1={mac}", f"t={T},v0={mac}", f"t={T},v1=zz"):
        assert not verify_signature(SECRET, header, BODY, now=T), header
