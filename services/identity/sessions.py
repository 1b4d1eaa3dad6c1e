"""Server-side sessions: the cookie holds a random token, the database only its SHA-256.

CSRF protection for cookie-authenticated writes uses a token derived from the session token
(HMAC), so it needs no storage, changes whenever the session does, and cannot be computed by a
page that cannot read the HttpOnly cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.db.inbox import Connection

# last_seen_at is advisory; refreshing it at most this often keeps reads from turning into writes.
SEEN_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class Session:
    user_id: str
    login: str
    expires_at: datetime
    last_seen_at: datetime


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"mno-csrf-v1", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        csrf_token(session_token).encode(), presented.encode()
    )


async def create(
    conn: Connection, user_id: str, *, ttl: timedelta, ip: str | None, user_agent: str | None
) -> str:
    token = new_token()
    await conn.execute(
        "INSERT INTO super_agent.user_sessions (token_hash, user_id, expires_at, ip, user_agent) "
        "VALUES ($1, $2::uuid, $3, $4, $5)",
        token_hash(token),
        user_id,
        datetime.now(UTC) + ttl,
        ip,
        (user_agent or "")[:300],
    )
    return token


async def lookup(conn: Connection, token: str, *, now: datetime | None = None) -> Session | None:
    now = now or datetime.now(UTC)
    row = await conn.fetchrow(
        """
        SELECT s.user_id::text AS user_id, u.login, s.expires_at, s.last_seen_at
        FROM super_agent.user_sessions s JOIN super_agent.users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
        """,
        token_hash(token),
        now,
    )
    if row is None:
        return None
    if now - row["last_seen_at"] > SEEN_INTERVAL:
        await conn.execute(
            "UPDATE super_agent.user_sessions SET last_seen_at = $2 WHERE token_hash = $1",
            token_hash(token),
            now,
        )
    return Session(row["user_id"], row["login"], row["expires_at"], row["last_seen_at"])


async def revoke(conn: Connection, token: str) -> bool:
    status: str = await conn.execute(
        "UPDATE super_agent.user_sessions SET revoked_at = now() "
        "WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash(token),
    )
    return status.endswith(" 1")


async def revoke_all_for_user(conn: Connection, user_id: str) -> int:
    status: str = await conn.execute(
        "UPDATE super_agent.user_sessions SET revoked_at = now() "
        "WHERE user_id = $1::uuid AND revoked_at IS NULL",
        user_id,
    )
    return int(status.split()[-1])
