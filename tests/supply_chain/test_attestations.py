"""In-toto statements in DSSE envelopes signed with Ed25519: the PAE of the DSSE specification,
signing and verification with key rotation, and refusal of every tampered part."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from services.supply_chain.attestations import (
    CYCLONEDX_PREDICATE,
    PAYLOAD_TYPE,
    SPDX_PREDICATE,
    VULNS_PREDICATE,
    InvalidAttestation,
    key_id,
    load_private_key,
    load_public_key,
    pae,
    sign,
    statement,
    subject,
    verify,
)

# The DSSE protocol's own test vector (protocol.md, "Test Vectors"): an ECDSA P-256 signature made by
# the reference implementation over its PAE. It verifies over ours only if the bytes are identical.
SPEC_PAYLOAD_TYPE = "http://example.com/HelloWorld"
SPEC_PAE = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
SPEC_X = 46950820868899156662930047687818585632848591499744589407958293238635476079160
SPEC_Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
SPEC_SIG = "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="

WHEEL = b"the bytes of demo-1.0-py3-none-any.whl"


def test_pae_matches_the_dsse_specification_example() -> None:
    """PAE("http://example.com/HelloWorld", "hello world") is the specification's string, byte for byte."""
    assert pae(SPEC_PAYLOAD_TYPE, b"hello world") == SPEC_PAE


def test_the_specification_signature_verifies_over_our_pae() -> None:
    """The reference implementation's ECDSA signature from the DSSE spec verifies over our PAE."""
    public_key = ec.EllipticCurvePublicNumbers(SPEC_X, SPEC_Y, ec.SECP256R1()).public_key()
    raw = base64.b64decode(SPEC_SIG)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(der, pae(SPEC_PAYLOAD_TYPE, b"hello world"), ec.ECDSA(hashes.SHA256()))


def test_pae_lengths_are_byte_lengths_and_an_empty_body_keeps_its_space() -> None:
    """LEN counts UTF-8 bytes, not characters (ä is two), and an empty body ends in `0 `."""
    assert (
        pae("application/vnd.exämple+json", b"{}") == "DSSEv1 29 application/vnd.exämple+json 2 {}".encode()
    )
    assert pae(PAYLOAD_TYPE, b"") == b"DSSEv1 28 application/vnd.in-toto+json 0 "


def sbom_statement() -> dict[str, object]:
    return statement(
        [subject("demo-1.0-py3-none-any.whl", WHEEL)], CYCLONEDX_PREDICATE, {"bomFormat": "CycloneDX"}
    )


def test_a_signed_statement_verifies_and_names_its_key() -> None:
    """sign → verify returns the statement (sha256 subject digest) and the key id sha256(raw public key)."""
    key = Ed25519PrivateKey.generate()
    verified = verify(json.dumps(sign(sbom_statement(), key)), [key.public_key()])
    assert verified.statement["_type"] == "https://in-toto.io/Statement/v1"
    assert verified.statement["subject"][0]["digest"]["sha256"] == hashlib.sha256(WHEEL).hexdigest()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert verified.key_id == key_id(key.public_key()) == hashlib.sha256(raw).hexdigest()


def test_rotation_the_previous_key_still_verifies_what_it_signed() -> None:
    """After rotation, the old key's envelopes verify with [current, previous], not with current alone."""
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    envelope = sign(sbom_statement(), old)
    assert verify(envelope, [new.public_key(), old.public_key()]).key_id == key_id(old.public_key())
    with pytest.raises(InvalidAttestation, match="no signature verifies"):
        verify(envelope, [new.public_key()])


def _tamper(envelope: dict[str, object], field: str) -> dict[str, object]:
    changed = dict(envelope)
    if field == "payload":
        document = json.loads(base64.b64decode(str(envelope["payload"])))
        document["subject"][0]["digest"]["sha256"] = "0" * 64
        changed["payload"] = base64.b64encode(json.dumps(document).encode()).decode()
    elif field == "payloadType":
        changed["payloadType"] = "application/vnd.other+json"
    else:
        (signature,) = envelope["signatures"]  # type: ignore[misc]
        raw = bytearray(base64.b64decode(signature["sig"]))
        raw[0] ^= 1
        changed["signatures"] = [{**signature, "sig": base64.b64encode(bytes(raw)).decode()}]
    return changed


@pytest.mark.parametrize("field", ["payload", "payloadType", "signature"])
def test_a_tampered_envelope_is_refused(field: str) -> None:
    """Changing the payload, the payloadType or one bit of the signature breaks verification."""
    key = Ed25519PrivateKey.generate()
    envelope = sign(sbom_statement(), key)
    verify(envelope, [key.public_key()])
    with pytest.raises(InvalidAttestation, match="no signature verifies"):
        verify(_tamper(envelope, field), [key.public_key()])


def test_a_signed_payload_of_another_type_is_refused_after_the_signature() -> None:
    """A correctly signed envelope whose payloadType is not in-toto's is refused all the same."""
    key = Ed25519PrivateKey.generate()
    envelope = sign(sbom_statement(), key, payload_type="application/vnd.other+json")
    with pytest.raises(InvalidAttestation, match="payloadType"):
        verify(envelope, [key.public_key()])


def test_url_safe_base64_and_missing_padding_are_accepted() -> None:
    """DSSE verifiers accept either base64 alphabet: the same envelope re-encoded URL-safe verifies."""
    key = Ed25519PrivateKey.generate()
    envelope = sign(sbom_statement(), key)
    url_safe = {
        **envelope,
        "payload": base64.urlsafe_b64encode(base64.b64decode(envelope["payload"])).decode().rstrip("="),
        "signatures": [
            {"sig": base64.urlsafe_b64encode(base64.b64decode(envelope["signatures"][0]["sig"])).decode()}
        ],
    }
    assert verify(url_safe, [key.public_key()]).statement == sbom_statement()


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ({"payloadType": PAYLOAD_TYPE, "signatures": [{"sig": "AA=="}]}, "payload and a payloadType"),
        ({"payload": "e30=", "payloadType": PAYLOAD_TYPE, "signatures": []}, "at least one signature"),
        ({"payload": "e30=", "payloadType": PAYLOAD_TYPE, "signatures": [{"sig": "@@"}]}, "not base64"),
    ],
)
def test_malformed_envelopes_are_refused_with_a_reason(envelope: object, message: str) -> None:
    """Unreadable envelopes raise InvalidAttestation saying what is wrong, never another error."""
    with pytest.raises(InvalidAttestation, match=message):
        verify(envelope, [Ed25519PrivateKey.generate().public_key()])  # type: ignore[arg-type]


def test_expected_predicate_types_are_enforced() -> None:
    """An SPDX attestation is refused where only scan results are expected."""
    key = Ed25519PrivateKey.generate()
    envelope = sign(statement([subject("x", b"x")], SPDX_PREDICATE, {}), key)
    assert verify(envelope, [key.public_key()], predicate_types=[SPDX_PREDICATE])
    with pytest.raises(InvalidAttestation, match="predicateType"):
        verify(envelope, [key.public_key()], predicate_types=[VULNS_PREDICATE])


def test_statements_need_subjects_with_digests() -> None:
    """A statement without a subject, or with a subject without digest, is not made."""
    with pytest.raises(ValueError, match="at least one subject"):
        statement([], CYCLONEDX_PREDICATE, {})
    with pytest.raises(ValueError, match="no digest"):
        statement([{"name": "x", "digest": {}}], CYCLONEDX_PREDICATE, {})


def test_keys_load_from_pem_and_only_ed25519_is_accepted() -> None:
    """PKCS#8 / SubjectPublicKeyInfo PEM round-trip; an EC key is refused as a signing key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    envelope = sign(sbom_statement(), load_private_key(pem))
    assert verify(envelope, [load_public_key(public_pem)])
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="Ed25519"):
        load_private_key(other)
