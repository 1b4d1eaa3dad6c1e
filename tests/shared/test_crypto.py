"""SecretBox: AES-256-GCM sealing bound to its record, with a rotating keyring."""

from __future__ import annotations

import base64
import os

import pytest

from shared.crypto import (
    DecryptionFailed,
    InvalidKey,
    MalformedCiphertext,
    SecretBox,
    UnknownKeyId,
    generate_key,
)

RECORD = b"installation=1/scope=all"


def box(**keys: str) -> SecretBox:
    return SecretBox.from_base64(keys, primary=next(iter(keys)))


def test_round_trip_with_a_fresh_nonce_each_time() -> None:
    """Sealing twice gives different bytes that both open to the plaintext."""
    secret_box = box(k1=generate_key())
    first = secret_box.encrypt(b"ghs_secret", RECORD)
    second = secret_box.encrypt(b"ghs_secret", RECORD)
    assert first != second
    assert secret_box.decrypt(first, RECORD) == secret_box.decrypt(second, RECORD) == b"ghs_secret"
    assert b"ghs_secret" not in first
    # version + id length + "k1" + 12-byte nonce + plaintext + 16-byte tag
    assert len(first) == 2 + 2 + 12 + len(b"ghs_secret") + 16


def test_ciphertext_moved_to_another_record_does_not_open() -> None:
    """Associated data binds a ciphertext to its record."""
    secret_box = box(k1=generate_key())
    sealed = secret_box.encrypt(b"token-of-installation-1", b"installation=1")
    with pytest.raises(DecryptionFailed, match="another record"):
        secret_box.decrypt(sealed, b"installation=2")


def test_tampered_ciphertext_does_not_open() -> None:
    """Any flipped byte, key id included, fails authentication."""
    secret_box = SecretBox.from_base64({"k1": generate_key(), "k2": generate_key()}, primary="k1")
    sealed = bytearray(secret_box.encrypt(b"secret", RECORD))
    sealed[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        secret_box.decrypt(bytes(sealed), RECORD)
    relabelled = bytearray(secret_box.encrypt(b"secret", RECORD))
    relabelled[3] = ord("2")  # "k1" -> "k2": the header is authenticated too
    with pytest.raises(DecryptionFailed):
        secret_box.decrypt(bytes(relabelled), RECORD)


def test_rotation_decrypts_by_the_key_id_in_the_prefix() -> None:
    """After adding a new primary key, old values still open and new ones use the new key."""
    old_key, new_key = generate_key(), generate_key()
    before = SecretBox.from_base64({"2024": old_key}, primary="2024")
    sealed_before = before.encrypt(b"old", RECORD)
    during = SecretBox.from_base64({"2024": old_key, "2025": new_key}, primary="2025")
    sealed_during = during.encrypt(b"new", RECORD)
    assert during.decrypt(sealed_before, RECORD) == b"old"
    assert during.needs_rotation(sealed_before)
    assert not during.needs_rotation(sealed_during)
    assert sealed_during[2:6] == b"2025"
    after = SecretBox.from_base64({"2025": new_key}, primary="2025")
    assert after.decrypt(sealed_during, RECORD) == b"new"
    with pytest.raises(UnknownKeyId, match="'2024'") as raised:
        after.decrypt(sealed_before, RECORD)
    assert raised.value.key_id == "2024"


def test_same_key_id_with_other_key_material_is_a_clear_error() -> None:
    """A wrong key under the right id reports that the ciphertext does not authenticate."""
    sealed = box(k1=generate_key()).encrypt(b"secret", RECORD)
    with pytest.raises(DecryptionFailed, match="'k1'"):
        box(k1=generate_key()).decrypt(sealed, RECORD)


def test_garbage_is_malformed_not_a_crash() -> None:
    """Bytes that are not a SecretBox ciphertext raise MalformedCiphertext."""
    secret_box = box(k1=generate_key())
    for garbage in (b"", b"\x02abc", b"\x01\x02k1" + b"short"):
        with pytest.raises(MalformedCiphertext):
            secret_box.decrypt(garbage, RECORD)


def test_keys_are_base64_of_exactly_32_bytes() -> None:
    """Standard and URL-safe base64 (padding optional) are accepted; anything else is InvalidKey."""
    raw = os.urandom(32)
    urlsafe = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    sealed = SecretBox.from_base64({"a": urlsafe}, primary="a").encrypt(b"x", RECORD)
    assert SecretBox({"a": raw}, primary="a").decrypt(sealed, RECORD) == b"x"
    with pytest.raises(InvalidKey, match="32"):
        SecretBox.from_base64({"a": base64.b64encode(os.urandom(16)).decode()}, primary="a")
    with pytest.raises(InvalidKey, match="base64"):
        SecretBox.from_base64({"a": "not base64!"}, primary="a")
    with pytest.raises(InvalidKey, match="primary"):
        SecretBox.from_base64({"a": generate_key()}, primary="b")
    with pytest.raises(InvalidKey, match="key id"):
        SecretBox.from_base64({"bad id": generate_key()}, primary="bad id")


def test_repr_shows_key_ids_only() -> None:
    """The keyring's repr never includes key material."""
    key = generate_key()
    assert key not in repr(SecretBox.from_base64({"k1": key}, primary="k1"))
