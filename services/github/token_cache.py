"""Installation access tokens: minted on demand, cached until shortly before they expire.

A token is cached per (installation id, requested scope). The scope — repository names,
repository ids and permissions the token was narrowed to — is normalised (sorted, deduplicated)
and hashed into a fixed-width `scope_key`, so the same scope asked in another order hits the same
entry and the key stays small enough to index whatever the scope lists.

Two levels: an in-process dictionary (plaintext, memory only, never persisted) in front of a
`TokenStore` that persists entries for other replicas and restarts. The store only ever sees
`SecretBox` ciphertext, bound to its record (installation id + scope key) as associated data,
so a ciphertext moved to another record does not decrypt. An entry that cannot be read back
(swapped, tampered, sealed with a key since dropped from the keyring) counts as a miss and a
new token is minted; the store is a cache, GitHub stays the source of truth, so a failing store
is logged and bypassed rather than failing the caller.

Single flight: concurrent callers wanting the same key share one refresh. The refresh runs as
its own task, so a caller that is cancelled does not cancel it for the others; a failure is
raised to every caller waiting on that refresh, and the next caller starts a new one.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from services.github.clock import Clock, system_clock, utc_datetime
from shared.crypto import SecretBox, SecretBoxError

log = structlog.get_logger("mno.github.tokens")

DEFAULT_REFRESH_MARGIN = timedelta(minutes=5)
DEFAULT_MAX_MEMORY_ENTRIES = 10_000
PERMISSION_LEVELS = frozenset({"read", "write", "admin"})


@dataclass(frozen=True, slots=True)
class TokenScope:
    """What an installation token is narrowed to; empty everywhere means the whole installation.

    Construction normalises: names and ids are deduplicated and sorted, permissions sorted by
    name, so equal scopes compare, hash and key equal whatever order they were given in.
    """

    repositories: tuple[str, ...] = ()
    repository_ids: tuple[int, ...] = ()
    permissions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        names = sorted({name.strip() for name in self.repositories})
        if any(not name for name in names):
            raise ValueError("repository names in a token scope cannot be blank")
        ids = sorted(set(self.repository_ids))
        if any(isinstance(repository_id, bool) or repository_id <= 0 for repository_id in ids):
            raise ValueError("repository ids in a token scope must be positive integers")
        permissions = dict(self.permissions)
        if len(permissions) != len(self.permissions):
            raise ValueError("a permission appears twice in the token scope")
        for name, level in permissions.items():
            if not name or level not in PERMISSION_LEVELS:
                raise ValueError(f"permission {name!r}: level {level!r} is not one of read, write, admin")
        object.__setattr__(self, "repositories", tuple(names))
        object.__setattr__(self, "repository_ids", tuple(ids))
        object.__setattr__(self, "permissions", tuple(sorted(permissions.items())))

    @classmethod
    def of(
        cls,
        *,
        repositories: Iterable[str] = (),
        repository_ids: Iterable[int] = (),
        permissions: Mapping[str, str] | None = None,
    ) -> TokenScope:
        """A scope from any iterables and a permission mapping (``{"contents": "read"}``)."""
        return cls(tuple(repositories), tuple(repository_ids), tuple((permissions or {}).items()))

    @property
    def is_whole_installation(self) -> bool:
        return not (self.repositories or self.repository_ids or self.permissions)

    def request_body(self) -> dict[str, Any]:
        """The JSON body of ``POST /app/installations/{id}/access_tokens`` for this scope."""
        body: dict[str, Any] = {}
        if self.repositories:
            body["repositories"] = list(self.repositories)
        if self.repository_ids:
            body["repository_ids"] = list(self.repository_ids)
        if self.permissions:
            body["permissions"] = dict(self.permissions)
        return body

    def canonical_json(self) -> str:
        """The normalised scope as compact JSON (what `key` hashes)."""
        return json.dumps(self.request_body(), sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """``sha256:`` + hex digest of `canonical_json`: fixed width, order-independent."""
        return "sha256:" + hashlib.sha256(self.canonical_json().encode()).hexdigest()


WHOLE_INSTALLATION = TokenScope()


@dataclass(frozen=True, slots=True)
class InstallationToken:
    """A usable installation access token. The token never appears in a repr or a log."""

    installation_id: int
    scope_key: str
    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StoredToken:
    """What a `TokenStore` persists: never the token itself, only `SecretBox` ciphertext.

    A PostgreSQL table for it: ``installation_id BIGINT, scope_key TEXT, ciphertext BYTEA,
    expires_at TIMESTAMPTZ, PRIMARY KEY (installation_id, scope_key)``; ciphertext length varies
    with the token's (GitHub's tokens are opaque and of no fixed width).
    """

    installation_id: int
    scope_key: str
    ciphertext: bytes = field(repr=False)
    expires_at: datetime


class TokenStore(abc.ABC):
    """Persistence for encrypted installation tokens, keyed by (installation id, scope key)."""

    @abc.abstractmethod
    async def get(self, installation_id: int, scope_key: str) -> StoredToken | None:
        """The entry for the key, expired or not, or None."""

    @abc.abstractmethod
    async def put(self, token: StoredToken) -> None:
        """Insert or replace the entry for ``(token.installation_id, token.scope_key)``."""

    @abc.abstractmethod
    async def delete(self, installation_id: int, scope_key: str) -> None:
        """Remove one entry if present."""

    @abc.abstractmethod
    async def delete_installation(self, installation_id: int) -> int:
        """Remove every entry of an installation (uninstalled, suspended); returns how many."""

    @abc.abstractmethod
    async def delete_expired(self, now: datetime) -> int:
        """Remove entries whose `expires_at` is at or before `now`; returns how many."""


class InMemoryTokenStore(TokenStore):
    """A `TokenStore` in a dictionary: one process, gone on restart (tests, single-node runs)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str], StoredToken] = {}

    def records(self) -> list[StoredToken]:
        """Every entry held, for inspection."""
        return list(self._entries.values())

    async def get(self, installation_id: int, scope_key: str) -> StoredToken | None:
        return self._entries.get((installation_id, scope_key))

    async def put(self, token: StoredToken) -> None:
        self._entries[(token.installation_id, token.scope_key)] = token

    async def delete(self, installation_id: int, scope_key: str) -> None:
        self._entries.pop((installation_id, scope_key), None)

    async def delete_installation(self, installation_id: int) -> int:
        keys = [key for key in self._entries if key[0] == installation_id]
        for key in keys:
            del self._entries[key]
        return len(keys)

    async def delete_expired(self, now: datetime) -> int:
        keys = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in keys:
            del self._entries[key]
        return len(keys)


TokenMinter = Callable[[int, TokenScope], Awaitable[InstallationToken]]
_Key = tuple[int, str]


def associated_data(installation_id: int, scope_key: str) -> bytes:
    """What a stored token's ciphertext is bound to: the record it belongs to."""
    return f"mno/github/installation-token/v1/{installation_id}/{scope_key}".encode()


class InstallationTokenCache:
    """Gets installation tokens through `mint` (the HTTP call) at most once per key and lifetime."""

    def __init__(
        self,
        mint: TokenMinter,
        *,
        secret_box: SecretBox,
        store: TokenStore | None = None,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        clock: Clock = system_clock,
        max_memory_entries: int = DEFAULT_MAX_MEMORY_ENTRIES,
    ) -> None:
        self._mint = mint
        self._box = secret_box
        self._store = store if store is not None else InMemoryTokenStore()
        self._margin = refresh_margin
        self._clock = clock
        self._max_memory_entries = max_memory_entries
        self._memory: dict[_Key, InstallationToken] = {}
        self._inflight: dict[_Key, asyncio.Task[InstallationToken]] = {}

    @property
    def store(self) -> TokenStore:
        return self._store

    async def get(self, installation_id: int, scope: TokenScope | None = None) -> InstallationToken:
        """A token valid for at least the refresh margin, from cache or freshly minted."""
        scope = scope if scope is not None else WHOLE_INSTALLATION
        key = (installation_id, scope.key)
        cached = self._memory.get(key)
        if cached is not None and self._is_fresh(cached):
            return cached
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load_or_mint(installation_id, scope))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._refresh_finished(key, done))
        return await asyncio.shield(task)

    async def discard(self, token: InstallationToken) -> None:
        """Forget `token` (GitHub refused it): the next `get` for its key mints a new one.

        Only that token is dropped; if another caller has already replaced it, the newer
        token stays.
        """
        key = (token.installation_id, token.scope_key)
        if self._memory.get(key) == token:
            del self._memory[key]
        stored = await self._read_store(key)
        if stored is None or stored.token == token.token:
            try:
                await self._store.delete(*key)
            except Exception as exc:
                log.warning("github_token_store_delete_failed", installation_id=key[0], error=repr(exc))

    async def forget_installation(self, installation_id: int) -> None:
        """Drop every cached token of an installation, in memory and in the store."""
        for key in [key for key in self._memory if key[0] == installation_id]:
            del self._memory[key]
        await self._store.delete_installation(installation_id)

    def _is_fresh(self, token: InstallationToken) -> bool:
        return token.expires_at - self._margin > utc_datetime(self._clock())

    def _refresh_finished(self, key: _Key, task: asyncio.Task[InstallationToken]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here so an error nobody awaits is not reported as lost

    async def _load_or_mint(self, installation_id: int, scope: TokenScope) -> InstallationToken:
        key = (installation_id, scope.key)
        cached = self._memory.get(key)
        if cached is not None and self._is_fresh(cached):
            return cached
        stored = await self._read_store(key)
        if stored is not None and self._is_fresh(stored):
            self._remember(stored)
            return stored
        token = await self._mint(installation_id, scope)
        if (token.installation_id, token.scope_key) != key:
            raise ValueError("the token minter returned a token for another installation or scope")
        await self._write_store(token)
        self._remember(token)
        return token

    async def _read_store(self, key: _Key) -> InstallationToken | None:
        try:
            entry = await self._store.get(*key)
        except Exception as exc:
            log.warning("github_token_store_read_failed", installation_id=key[0], error=repr(exc))
            return None
        if entry is None:
            return None
        try:
            plaintext = self._box.decrypt(entry.ciphertext, associated_data(*key))
        except SecretBoxError as exc:
            log.warning("github_token_store_entry_unreadable", installation_id=key[0], error=str(exc))
            return None
        return InstallationToken(key[0], key[1], plaintext.decode(), entry.expires_at)

    async def _write_store(self, token: InstallationToken) -> None:
        ciphertext = self._box.encrypt(
            token.token.encode(), associated_data(token.installation_id, token.scope_key)
        )
        entry = StoredToken(token.installation_id, token.scope_key, ciphertext, token.expires_at)
        try:
            await self._store.put(entry)
        except Exception as exc:
            log.warning(
                "github_token_store_write_failed", installation_id=token.installation_id, error=repr(exc)
            )

    def _remember(self, token: InstallationToken) -> None:
        self._memory[(token.installation_id, token.scope_key)] = token
        if len(self._memory) <= self._max_memory_entries:
            return
        for key in [key for key, entry in self._memory.items() if not self._is_fresh(entry)]:
            del self._memory[key]
        while len(self._memory) > self._max_memory_entries:
            del self._memory[next(iter(self._memory))]
