"""Signed attestations: an in-toto Statement v1 about artifacts (by SHA-256 digest) in a DSSE
envelope, signed with Ed25519 (`cryptography`).

The signature covers DSSE's pre-authentication encoding, PAE(type, body) =
`"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, LEN being the byte length in ASCII decimal:
so neither the payload nor its payloadType can be changed without breaking it. Key ids are the
SHA-256 (hex) of the raw 32-byte public key; DSSE makes them a hint only, so verification tries
every trusted key (the current one and those rotated out, which still verify what they signed) and
reports the one that verified. Both base64 alphabets are accepted, as DSSE requires.

Written here rather than with a library: the protocol is the PAE above plus an Ed25519 signature,
and the libraries that implement it (securesystemslib, in-toto) bring key formats and signers we
would not use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom/v1.6"
SPDX_PREDICATE = "https://spdx.dev/Document/v2.3"
VULNS_PREDICATE = "https://in-toto.io/attestation/vulns/v0.2"
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024


class InvalidAttestation(ValueError):
    """An envelope that does not verify: unreadable, tampered, or signed by no trusted key."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1's pre-authentication encoding."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def subject(name: str, content: bytes) -> dict[str, Any]:
    return {"name": name, "digest": {"sha256": hashlib.sha256(content).hexdigest()}}


def statement(subjects: Sequence[Mapping[str, Any]], predicate_type: str, predicate: Any) -> dict[str, Any]:
    if not subjects:
        raise ValueError("an in-toto statement has at least one subject")
    for entry in subjects:
        if not entry.get("digest"):
            raise ValueError(f"subject {entry.get('name')!r} has no digest")
    return {
        "_type": STATEMENT_TYPE,
        "subject": list(subjects),
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def sign(
    document: Mapping[str, Any], private_key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE
) -> dict[str, Any]:
    """A DSSE envelope of the JSON document (compact, keys sorted: the bytes signed are the bytes sent)."""
    payload = json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    signature = private_key.sign(pae(payload_type, payload))
    return {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [
            {"keyid": key_id(private_key.public_key()), "sig": base64.b64encode(signature).decode("ascii")}
        ],
    }


@dataclass(frozen=True)
class Verified:
    statement: dict[str, Any]
    key_id: str
    """The trusted key that verified a signature."""


def verify(
    envelope: Mapping[str, Any] | str | bytes,
    trusted: Iterable[Ed25519PublicKey],
    *,
    predicate_types: Iterable[str] | None = None,
) -> Verified:
    """The statement of an envelope one trusted key signed; InvalidAttestation otherwise.

    Order follows DSSE: the signature over PAE(payloadType, payload) is checked before the payload is
    parsed; then the payloadType must be in-toto's, and the payload a Statement v1 (of one of
    `predicate_types`, when given)."""
    data = _envelope(envelope)
    payload_type = data.get("payloadType")
    signatures = data.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(data.get("payload"), str):
        raise InvalidAttestation("an envelope has a payload and a payloadType, both strings")
    if not isinstance(signatures, list) or not signatures:
        raise InvalidAttestation("an envelope has at least one signature")
    payload = _b64(data["payload"], "payload")
    message = pae(payload_type, payload)
    keys = list(trusted)
    verified_by = None
    for entry in signatures:
        if not isinstance(entry, dict) or not isinstance(entry.get("sig"), str):
            raise InvalidAttestation("a signature is an object with a `sig` string")
        signature = _b64(entry["sig"], "sig")
        verified_by = next((k for k in keys if _verifies(k, signature, message)), None)
        if verified_by is not None:
            break
    if verified_by is None:
        raise InvalidAttestation(
            "no signature verifies with a trusted key (tampered, or signed by another key)"
        )
    if payload_type != PAYLOAD_TYPE:
        raise InvalidAttestation(f"payloadType {payload_type!r} is not {PAYLOAD_TYPE}")
    try:
        parsed = json.loads(payload)
    except ValueError as error:
        raise InvalidAttestation(f"the payload is not JSON: {error}") from error
    if not isinstance(parsed, dict) or parsed.get("_type") != STATEMENT_TYPE:
        raise InvalidAttestation(f"the payload is not an in-toto Statement ({STATEMENT_TYPE})")
    if predicate_types is not None and parsed.get("predicateType") not in set(predicate_types):
        raise InvalidAttestation(f"predicateType {parsed.get('predicateType')!r} is not one expected here")
    return Verified(parsed, key_id(verified_by))


def _verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _envelope(envelope: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(envelope, Mapping):
        return envelope
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise InvalidAttestation(f"an envelope is at most {MAX_ENVELOPE_BYTES} bytes")
    try:
        data = json.loads(envelope)
    except (ValueError, RecursionError) as error:
        raise InvalidAttestation(f"the envelope is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise InvalidAttestation("the envelope is a JSON object")
    return data


def _b64(text: str, field: str) -> bytes:
    """Standard or URL-safe base64, padded or not; anything else in the text is refused."""
    alphabet_fixed = text.replace("-", "+").replace("_", "/")
    padded = alphabet_fixed + "=" * (-len(alphabet_fixed) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidAttestation(f"{field} is not base64: {error}") from error


def load_private_key(pem: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PKCS#8 PEM (`openssl genpkey -algorithm ed25519`)."""
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key must be an Ed25519 key")
    return key


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("a verification key must be an Ed25519 key")
    return key
