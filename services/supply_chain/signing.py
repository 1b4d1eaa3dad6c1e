"""The keys attestations are signed and verified with: the current Ed25519 signing key and those
rotated out (`supply_chain.signing_key`, `previous_signing_keys`: PEM text or a PEM file's path).

Without a configured key the agent keeps one in its data directory (created once, 0600, published
atomically so two processes starting together end up with the same key): right for one machine
(`mno run`); several replicas need the configured key, or each signs with its own.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.supply_chain.attestations import key_id, load_private_key

GENERATED_KEY_FILE = "supply-chain-signing-key.pem"


class InvalidSigningKey(ValueError):
    """A configured key that cannot be read as an Ed25519 PEM key."""


@dataclass(frozen=True)
class Keyring:
    signer: Ed25519PrivateKey
    previous: tuple[Ed25519PublicKey, ...] = ()

    @property
    def trusted(self) -> tuple[Ed25519PublicKey, ...]:
        return (self.signer.public_key(), *self.previous)

    @property
    def key_id(self) -> str:
        return key_id(self.signer.public_key())

    def public_keys(self) -> list[tuple[str, str, bool]]:
        """(key id, public PEM, whether it is the current signing key) of every trusted key."""
        return [(key_id(k), public_pem(k), n == 0) for n, k in enumerate(self.trusted)]


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _pem(value: str) -> bytes:
    # A PEM block is text starting with its armour; anything else names a file holding one.
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode("utf-8")
    try:
        return Path(value).expanduser().read_bytes()
    except OSError as error:
        raise InvalidSigningKey(f"cannot read the key file {value}: {error.strerror}") from error


def trusted_key(value: str) -> Ed25519PublicKey:
    pem = _pem(value)
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        private = None
    if isinstance(private, Ed25519PrivateKey):
        return private.public_key()
    try:
        public = serialization.load_pem_public_key(pem)
    except ValueError as error:
        raise InvalidSigningKey(f"not a PEM key: {error}") from error
    if not isinstance(public, Ed25519PublicKey):
        raise InvalidSigningKey("a previous signing key must be an Ed25519 key")
    return public


def load_keyring(signing_key: str | None, previous: Iterable[str], data_dir: Path) -> Keyring:
    if signing_key:
        try:
            signer = load_private_key(_pem(signing_key))
        except (ValueError, TypeError) as error:
            raise InvalidSigningKey(f"supply_chain.signing_key: {error}") from error
    else:
        try:
            signer = load_private_key(_generated_key(data_dir))
        except (ValueError, TypeError) as error:
            raise InvalidSigningKey(
                f"{data_dir / GENERATED_KEY_FILE} (the key this agent generated) is not an Ed25519 PEM "
                f"key: {error}; restore it, or configure supply_chain.signing_key"
            ) from error
    return Keyring(signer, tuple(trusted_key(v) for v in previous if v.strip()))


def _generated_key(data_dir: Path) -> bytes:
    path = data_dir / GENERATED_KEY_FILE
    if path.exists():
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=".signing-key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process published its key first: use that
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_bytes()
