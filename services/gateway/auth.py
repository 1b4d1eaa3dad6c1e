"""Who is calling. The identity issue adds sessions and API keys behind the same interface."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web

from services.identity import apikeys
from shared.messages.envelope import Principal
from shared.messages.permissions import Role


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Principal | None:
        """The principal the request's credentials prove, or None when it carries none that count."""
        ...


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BootstrapTokenAuthenticator:
    """The operator's token from configuration (auth.bootstrap_token): owner of the platform's own
    operations (the mesh), but of no team, so it reaches no team's data."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    async def authenticate(self, request: web.Request) -> Principal | None:
        presented = bearer_token(request)
        if self._token is None or presented is None:
            return None
        if not hmac.compare_digest(presented.encode(), self._token):
            return None
        return Principal(roles=(Role.OWNER.value,))


class ApiKeyAuthenticator:
    """`Authorization: Bearer mno_…` API keys, checked against their hash on every request."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._touches: set[asyncio.Task[None]] = set()

    async def authenticate(self, request: web.Request) -> Principal | None:
        token = bearer_token(request)
        if token is None or not token.startswith(apikeys.PREFIX):
            return None
        async with self._pool.acquire() as conn:
            key = await apikeys.verify(conn, token)
        if key is None:
            return None
        # Recording the time of use must not delay the request it describes.
        task = asyncio.create_task(self._touch(key))
        self._touches.add(task)
        task.add_done_callback(self._touches.discard)
        return Principal(
            team_id=key.team_id, user_id=key.created_by, api_key_id=key.key_id, permissions=key.permissions
        )

    async def _touch(self, key: apikeys.VerifiedKey) -> None:
        async with self._pool.acquire() as conn:
            await apikeys.touch(conn, key)


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
