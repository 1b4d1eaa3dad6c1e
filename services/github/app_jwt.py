"""The GitHub App's JSON Web Token: RS256, short-lived, signed with the App's private key.

Claims: ``iat`` = now - 60 s (GitHub's advice against clock drift), ``exp`` = now + 9 min (GitHub
refuses more than 10 min ahead; a minute's margin absorbs our clock running fast) and ``iss`` =
the App's client id (GitHub's current recommendation; a numeric App id is still accepted and
sent as a string).

Key rotation. GitHub lets an App hold several private keys at once, so a key is rotated by
generating the new key on GitHub, deploying it *first* in the configured list (newest first,
at most two), and deleting the old key on GitHub once every replica runs with the new one.
Tokens are always signed with the first key. `call_with_app_jwt` covers the windows where the
configuration and GitHub disagree (new key deployed before it was registered, or the list given
oldest first): when GitHub answers 401 to the first key's JWT, the call is retried exactly once
with a JWT from the second key. Nothing is remembered between calls: App-JWT calls are rare
(installation tokens are cached for an hour), so the possible extra request is cheap, and a
fixed configuration never leaves a replica stuck on a key GitHub has since revoked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from services.github.clock import Clock, system_clock
from services.github.errors import GitHubAuthError, GitHubConfigError

JWT_ALGORITHM = "RS256"
JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 9 * 60
MAX_JWT_LIFETIME_SECONDS = 10 * 60
MAX_PRIVATE_KEYS = 2

T = TypeVar("T")


def load_private_key(pem: str | bytes, *, index: int = 0) -> RSAPrivateKey:
    """Parse one PEM private key (PKCS#1 as GitHub issues it, or PKCS#8); never echoes the key."""
    data = pem.encode("ascii", errors="replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise GitHubConfigError(f"GitHub App private key #{index + 1} is not a readable PEM key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise GitHubConfigError(f"GitHub App private key #{index + 1} is not an RSA key (RS256 needs RSA)")
    return key


class AppJWTSigner:
    """Issues App JWTs; holds one or two private keys, newest first."""

    def __init__(
        self,
        issuer: str | int,
        private_keys: Sequence[RSAPrivateKey],
        *,
        clock: Clock = system_clock,
        lifetime_seconds: int = JWT_LIFETIME_SECONDS,
    ) -> None:
        issuer_text = str(issuer).strip()
        if not issuer_text:
            raise GitHubConfigError("the GitHub App JWT needs an issuer: the App's client id (or App id)")
        if not 1 <= len(private_keys) <= MAX_PRIVATE_KEYS:
            raise GitHubConfigError(
                f"a GitHub App needs 1 to {MAX_PRIVATE_KEYS} private keys, got {len(private_keys)}"
            )
        if not 0 < lifetime_seconds <= MAX_JWT_LIFETIME_SECONDS:
            raise GitHubConfigError(
                f"App JWT lifetime must be 1..{MAX_JWT_LIFETIME_SECONDS} seconds, got {lifetime_seconds}"
            )
        self._issuer = issuer_text
        self._keys = tuple(private_keys)
        self._clock = clock
        self._lifetime = lifetime_seconds

    @classmethod
    def from_pem(
        cls,
        issuer: str | int,
        pems: Sequence[str | bytes],
        *,
        clock: Clock = system_clock,
        lifetime_seconds: int = JWT_LIFETIME_SECONDS,
    ) -> AppJWTSigner:
        """A signer from PEM texts, newest key first."""
        keys = [load_private_key(pem, index=index) for index, pem in enumerate(pems)]
        return cls(issuer, keys, clock=clock, lifetime_seconds=lifetime_seconds)

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def key_count(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"AppJWTSigner(issuer={self._issuer!r}, keys={len(self._keys)})"

    def claims(self) -> dict[str, int | str]:
        """The claims a JWT signed now carries."""
        now = int(self._clock())
        return {"iat": now - JWT_BACKDATE_SECONDS, "exp": now + self._lifetime, "iss": self._issuer}

    def sign(self, key_index: int = 0) -> str:
        """A fresh JWT signed with key `key_index` (0 = the newest, the one to use normally)."""
        if not 0 <= key_index < len(self._keys):
            raise GitHubConfigError(f"no GitHub App private key #{key_index + 1} is configured")
        return jwt.encode(self.claims(), self._keys[key_index], algorithm=JWT_ALGORITHM)


def fallback_key_index(signer: AppJWTSigner, refused_index: int) -> int | None:
    """The key to retry with after GitHub refused key `refused_index`'s JWT, or None: stop."""
    return 1 if refused_index == 0 and signer.key_count > 1 else None


async def call_with_app_jwt(signer: AppJWTSigner, call: Callable[[str], Awaitable[T]]) -> T:
    """Run `call(jwt)` with the first key's JWT; on `GitHubAuthError`, retry once with the second.

    With one key configured, or when the retry is refused too, the 401 propagates (the retry's).
    """
    index = 0
    while True:
        try:
            return await call(signer.sign(index))
        except GitHubAuthError:
            next_index = fallback_key_index(signer, index)
            if next_index is None:
                raise
            index = next_index
