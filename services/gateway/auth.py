"""Who is calling. The identity issue adds sessions and API keys behind the same interface."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from services.gateway.errors import HttpProblem
from services.identity import apikeys, sessions, users
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Role, operator_permissions


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Principal | None:
        """The principal the request's credentials prove, or None when it carries none that count."""
        ...


# An API key may also come in this header, for clients whose Authorization header carries another
# service's credential (proxy mode: the provider's key stays where the provider's SDK puts it).
API_KEY_HEADER = "X-MNO-Api-Key"


# Package clients (pip, twine) send credentials as HTTP Basic: user `__token__`, the API key as the
# password. Taken only under this path: elsewhere a browser's remembered Basic credentials would be
# an ambient credential like a cookie, without the CSRF token cookies need.
BASIC_AUTH_PREFIX = "/registry/"


def basic_api_key(request: web.Request) -> str | None:
    """The API key in an HTTP Basic password (any user name, `__token__` by convention), or as the user
    name with an empty password (`https://<key>@host/...`, the form some hosted indexes document)."""
    if not request.path.startswith(BASIC_AUTH_PREFIX):
        return None
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, separator, password = decoded.partition(":")
    if not separator:
        return None
    if not password and user.startswith(apikeys.PREFIX):
        return user
    return password if password.startswith(apikeys.PREFIX) else None


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BootstrapTokenAuthenticator:
    """The operator's token from configuration (auth.bootstrap_token): owner of the platform's own
    operations (the mesh, and the `platform:*` permissions no team role holds), but of no team, so
    it reaches no team's data."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    async def authenticate(self, request: web.Request) -> Principal | None:
        presented = bearer_token(request)
        if self._token is None or presented is None:
            return None
        if not hmac.compare_digest(presented.encode(), self._token):
            return None
        return Principal(roles=(Role.OWNER.value,), permissions=operator_permissions())


class ApiKeyAuthenticator:
    """`Authorization: Bearer mno_…` API keys (or HTTP Basic with the key as password, for package
    clients under /registry/), checked against their hash.

    A verified key is remembered for `cache_seconds`, so the database is not on every request's
    path. The price: a key revoked (or an account deactivated) through another replica, or
    directly in the database, keeps working here for at most that long; revoking through this
    replica forgets it at once. 0 checks the database every time.
    """

    MAX_CACHED = 10_000

    def __init__(self, pool: Any, *, cache_seconds: float = 0.0) -> None:
        self._pool = pool
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, apikeys.VerifiedKey]] = {}
        self._touches: set[asyncio.Task[None]] = set()

    def forget(self, key_id: str) -> None:
        """Drop a revoked key from the cache."""
        for digest, (_, key) in list(self._cache.items()):
            if key.key_id == key_id:
                del self._cache[digest]

    async def authenticate(self, request: web.Request) -> Principal | None:
        token = (
            request.headers.get(API_KEY_HEADER, "").strip() or bearer_token(request) or basic_api_key(request)
        )
        if token is None or not token.startswith(apikeys.PREFIX):
            return None
        key = await self._verify(token)
        if key is None:
            return None
        if apikeys.due_for_touch(key):
            # Recording the time of use must not delay the request it describes.
            task = asyncio.create_task(self._touch(key))
            self._touches.add(task)
            task.add_done_callback(self._touches.discard)
        return Principal(
            team_id=key.team_id, user_id=key.created_by, api_key_id=key.key_id, permissions=key.permissions
        )

    async def _verify(self, token: str) -> apikeys.VerifiedKey | None:
        digest = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._pool.acquire() as conn:
            key = await apikeys.verify(conn, token)
        if key is not None and self._cache_seconds > 0:
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (now + self._cache_seconds, key)
        elif cached is not None:
            del self._cache[digest]
        return key

    async def _touch(self, key: apikeys.VerifiedKey) -> None:
        async with self._pool.acquire() as conn:
            await apikeys.touch(conn, key)
        # The cached copy now carries the new time, so the next requests do not touch again.
        for digest, (expires, cached) in list(self._cache.items()):
            if cached.key_id == key.key_id:
                self._cache[digest] = (expires, replace(cached, last_used_at=datetime.now(UTC)))


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TEAM_HEADER = "X-MNO-Team"
# The team a browser last chose (the dashboard's team switcher): a preference, used when no
# X-MNO-Team header names one; a team the user has since left falls back to their first.
TEAM_COOKIE = "mno_team"
CSRF_HEADER = "X-CSRF-Token"


class SessionAuthenticator:
    """The browser's session cookie. The team a request acts in is the `X-MNO-Team` header (team id
    or slug), else the team of the `mno_team` cookie if still one of theirs, else the user's first
    team; cookie-authenticated writes must carry the CSRF token."""

    def __init__(self, pool: Any, cookie_name: str) -> None:
        self._pool = pool
        self._cookie_name = cookie_name

    async def authenticate(self, request: web.Request) -> Principal | None:
        token = request.cookies.get(self._cookie_name)
        if not token:
            return None
        async with self._pool.acquire() as conn:
            session = await sessions.lookup(conn, token)
            if session is None:
                return None
            teams = await users.memberships(conn, session.user_id)
        if request.method not in SAFE_METHODS and not sessions.csrf_matches(
            token, request.headers.get(CSRF_HEADER)
        ):
            raise HttpProblem(
                ErrorCode.FORBIDDEN,
                f"writes with a session cookie need the {CSRF_HEADER} header of GET /api/v1/session",
            )
        wanted = request.headers.get(TEAM_HEADER)
        if wanted:
            chosen = next((t for t in teams if wanted in (t.team_id, t.slug)), None)
            if chosen is None:
                # Not "forbidden": whether another team exists is not for this user to learn.
                raise HttpProblem(ErrorCode.NOT_FOUND, f"no team {wanted} among yours")
        else:
            preferred = request.cookies.get(TEAM_COOKIE)
            chosen = next((t for t in teams if preferred and preferred in (t.team_id, t.slug)), None)
            chosen = chosen or (teams[0] if teams else None)
        return Principal(
            team_id=chosen.team_id if chosen else None,
            user_id=session.user_id,
            roles=(chosen.role,) if chosen else (),
        )


class FirstMatch:
    """Tries each authenticator in turn; the first that recognises the credentials decides."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self._authenticators = list(authenticators)

    async def authenticate(self, request: web.Request) -> Principal | None:
        for authenticator in self._authenticators:
            principal = await authenticator.authenticate(request)
            if principal is not None:
                return principal
        return None
