"""`SecretBox`: authenticated encryption of small secrets at rest (AES-256-GCM), with key rotation.

Shared: the SuperAgent seals GitHub tokens with it, the MonitoringAgent alert-channel secrets.

A sealed value is self-describing::

    0x01 | len(key id) (1 byte) | key id (ASCII) | nonce (12 random bytes) | ciphertext + 16-byte tag

Encryption always uses the keyring's primary key; decryption picks the key named in the prefix,
so rotating means: add the new key, make it primary, re-encrypt (or let entries expire), then drop
the old key. The prefix is authenticated together with the caller's *associated data*, which names
the record the secret belongs to (for example the installation id and token scope): a ciphertext
copied into another record, or with its key id edited, does not decrypt.

A random 96-bit nonce per encryption is safe for far more messages than one key will ever seal
here (NIST's bound for random GCM nonces is 2**32 encryptions per key).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class SecretBoxError(Exception):
    """Base class for every error `SecretBox` raises."""


class InvalidKey(SecretBoxError, ValueError):
    """A key or key id given to the keyring is unusable (bad base64, not 32 bytes, bad id)."""


class UnknownKeyId(SecretBoxError):
    """The ciphertext names a key id the keyring does not hold (dropped too early, or foreign)."""

    def __init__(self, key_id: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"ciphertext was sealed with key id {key_id!r}, which is not in the keyring "
            f"(known key ids: {', '.join(known)})"
        )
        self.key_id = key_id


class MalformedCiphertext(SecretBoxError):
    """The bytes are not a `SecretBox` ciphertext at all (truncated, other format version)."""


class DecryptionFailed(SecretBoxError):
    """The ciphertext does not authenticate: wrong key material, tampering, or wrong record."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"ciphertext does not authenticate with key {key_id!r} and the given associated data: "
            "the key material differs from the one it was sealed with, the bytes were altered, "
            "or the ciphertext belongs to another record"
        )
        self.key_id = key_id


def generate_key() -> str:
    """A fresh random 256-bit key, base64-encoded as `SecretBox.from_base64` expects."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def decode_key(encoded: str, *, key_id: str = "?") -> bytes:
    """Decode a base64 (standard or URL-safe, padding optional) 32-byte key, or raise `InvalidKey`."""
    text = encoded.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidKey(f"key {key_id!r} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise InvalidKey(f"key {key_id!r} is {len(raw)} bytes once decoded; AES-256 needs {KEY_BYTES}")
    return raw


class SecretBox:
    """AES-256-GCM with a keyring of (key id → 32-byte key); encrypts with the primary key."""

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if not keys:
            raise InvalidKey("the keyring is empty")
        ciphers: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise InvalidKey(f"key id {key_id!r} must be 1-64 characters of A-Z a-z 0-9 . _ -")
            if len(key) != KEY_BYTES:
                raise InvalidKey(f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
            ciphers[key_id] = AESGCM(bytes(key))
        if primary not in ciphers:
            raise InvalidKey(f"primary key id {primary!r} is not in the keyring ({', '.join(ciphers)})")
        self._ciphers = ciphers
        self._primary = primary

    @classmethod
    def from_base64(cls, keys: Mapping[str, str], primary: str) -> SecretBox:
        """Build a keyring from base64-encoded keys, as configuration carries them."""
        return cls({key_id: decode_key(value, key_id=key_id) for key_id, value in keys.items()}, primary)

    @property
    def primary_key_id(self) -> str:
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"SecretBox(primary={self._primary!r}, key_ids={self.key_ids!r})"

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Seal `plaintext` with the primary key, bound to `associated_data` (not stored)."""
        header = _header(self._primary)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._primary].encrypt(nonce, plaintext, header + associated_data)
        return header + nonce + sealed

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        """Open a value sealed by `encrypt` with the same `associated_data`."""
        key_id, header_length = key_id_of(ciphertext)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyId(key_id, self.key_ids)
        nonce = ciphertext[header_length : header_length + NONCE_BYTES]
        sealed = ciphertext[header_length + NONCE_BYTES :]
        try:
            return cipher.decrypt(nonce, sealed, ciphertext[:header_length] + associated_data)
        except InvalidTag:
            raise DecryptionFailed(key_id) from None

    def needs_rotation(self, ciphertext: bytes) -> bool:
        """Whether the value was sealed with a key other than the current primary."""
        return key_id_of(ciphertext)[0] != self._primary


def key_id_of(ciphertext: bytes) -> tuple[str, int]:
    """The key id a ciphertext names and the length of its header, or `MalformedCiphertext`."""
    if len(ciphertext) < 2 or ciphertext[0] != FORMAT_VERSION:
        raise MalformedCiphertext("not a SecretBox ciphertext (unknown format version)")
    header_length = 2 + ciphertext[1]
    if len(ciphertext) < header_length + NONCE_BYTES + TAG_BYTES:
        raise MalformedCiphertext("SecretBox ciphertext is truncated")
    try:
        key_id = ciphertext[2:header_length].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedCiphertext("SecretBox ciphertext has a garbled key id") from None
    if not _KEY_ID.fullmatch(key_id):
        raise MalformedCiphertext("SecretBox ciphertext has a garbled key id")
    return key_id, header_length


def _header(key_id: str) -> bytes:
    encoded = key_id.encode("ascii")
    return bytes((FORMAT_VERSION, len(encoded))) + encoded
