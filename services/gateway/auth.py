"""Who is calling. The identity issue adds sessions and API keys behind the same interface."""

from __future__ import annotations

import hmac
from typing import Protocol

from aiohttp import web

from shared.messages.envelope import Principal
from shared.messages.permissions import Role

LOCAL_TEAM = "local"


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
    """The local administrator token `mno run` generates, for a first look without GitHub."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    async def authenticate(self, request: web.Request) -> Principal | None:
        presented = bearer_token(request)
        if self._token is None or presented is None:
            return None
        if not hmac.compare_digest(presented.encode(), self._token):
            return None
        return Principal(team_id=LOCAL_TEAM, user_id="local-admin", roles=(Role.OWNER.value,))
