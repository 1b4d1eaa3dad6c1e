"""One-time sign-in links for the local administrator of `mno run`: a browser session without GitHub.

`mno run` makes a link (its secret shown once, in the banner; only the SHA-256 stored); opening it
uses it up and starts a session of the local administrator, as GitHub's callback would for a GitHub
user. Only someone who can write to the database can make a link, so the route is safe to serve on
any installation: where no `mno run` made one, every token is unknown.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from services.identity.bootstrap import LOCAL_ADMIN
from shared.db.inbox import Connection

PATH = "/auth/local"
# Long enough to open after a coffee; the link dies at first use anyway.
LINK_TTL = timedelta(hours=24)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_link(conn: Connection, *, ttl: timedelta = LINK_TTL) -> str | None:
    """A new one-time token for the local administrator; None when there is none (no `mno run` yet)."""
    user_id = await conn.fetchval(
        "SELECT id::text FROM super_agent.users WHERE login = $1 AND github_id IS NULL", LOCAL_ADMIN
    )
    if user_id is None:
        return None
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO super_agent.local_sign_in_links (token_hash, user_id, expires_at) "
        "VALUES ($1, $2::uuid, $3)",
        _hash(token),
        user_id,
        datetime.now(UTC) + ttl,
    )
    return token


async def use_link(conn: Connection, token: str) -> str | None:
    """The user id a valid, unused token signs in (marking it used), or None."""
    user_id: str | None = await conn.fetchval(
        "UPDATE super_agent.local_sign_in_links SET used_at = now() "
        "WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id::text",
        _hash(token),
    )
    return user_id


def link_url(edge_url: str, token: str) -> str:
    return f"{edge_url.rstrip('/')}{PATH}?token={token}"
