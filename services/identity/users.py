"""Users signed in with GitHub, their team memberships, and the GitHub tokens we hold for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.github.errors import GitHubAuthError, OAuthError
from services.github.models import GitHubUser
from services.github.oauth import GitHubOAuth, OAuthTokens
from shared.crypto import SecretBox
from shared.db.inbox import Connection

# Refresh a little early, so a token is never sent in its last seconds.
EXPIRY_MARGIN = timedelta(minutes=2)


class ReauthorizationNeeded(Exception):
    """GitHub no longer honours our tokens for this user: they must sign in again."""


@dataclass(frozen=True)
class Membership:
    team_id: str
    slug: str
    name: str
    role: str
    account_login: str


async def upsert_github_user(conn: Connection, user: GitHubUser) -> str:
    user_id: str = await conn.fetchval(
        """
        INSERT INTO super_agent.users (github_id, login, name, email) VALUES ($1, $2, $3, $4)
        ON CONFLICT (github_id) DO UPDATE SET login = EXCLUDED.login, name = EXCLUDED.name,
            email = coalesce(EXCLUDED.email, super_agent.users.email), updated_at = now()
        RETURNING id::text
        """,
        user.id,
        user.login,
        user.name,
        user.email,
    )
    return user_id


async def memberships(conn: Connection, user_id: str) -> list[Membership]:
    rows = await conn.fetch(
        """
        SELECT t.id::text AS team_id, t.slug, t.name, m.role, a.login AS account_login
        FROM super_agent.team_members m
        JOIN super_agent.teams t ON t.id = m.team_id
        JOIN super_agent.accounts a ON a.id = t.account_id
        WHERE m.user_id = $1::uuid AND a.status = 'active'
        ORDER BY m.joined_at, t.slug
        """,
        user_id,
    )
    return [Membership(r["team_id"], r["slug"], r["name"], r["role"], r["account_login"]) for r in rows]


def _associated(user_id: str, which: str) -> bytes:
    # Binds each ciphertext to its row and column: a token copied to another user does not decrypt.
    return f"user-token:{user_id}:{which}".encode()


async def store_tokens(conn: Connection, box: SecretBox, user_id: str, tokens: OAuthTokens) -> None:
    """Replace the user's tokens (at sign-in, or after a refresh under the row lock)."""
    refresh = (
        box.encrypt(tokens.refresh_token.encode(), _associated(user_id, "refresh"))
        if tokens.refresh_token
        else None
    )
    await conn.execute(
        """
        INSERT INTO super_agent.user_github_tokens
            (user_id, access_ciphertext, access_expires_at, refresh_ciphertext, refresh_expires_at)
        VALUES ($1::uuid, $2, $3, $4, $5)
        ON CONFLICT (user_id) DO UPDATE SET access_ciphertext = EXCLUDED.access_ciphertext,
            access_expires_at = EXCLUDED.access_expires_at, refresh_ciphertext = EXCLUDED.refresh_ciphertext,
            refresh_expires_at = EXCLUDED.refresh_expires_at,
            version = super_agent.user_github_tokens.version + 1, updated_at = now()
        """,
        user_id,
        box.encrypt(tokens.access_token.encode(), _associated(user_id, "access")),
        tokens.expires_at,
        refresh,
        tokens.refresh_token_expires_at,
    )


async def forget_tokens(conn: Connection, user_id: str) -> None:
    await conn.execute("DELETE FROM super_agent.user_github_tokens WHERE user_id = $1::uuid", user_id)


async def access_token(pool: Any, box: SecretBox, oauth: GitHubOAuth, user_id: str) -> str:
    """A valid access token for the user, refreshed when it is (about to be) expired.

    The refresh happens under the row's lock, so concurrent requests (on any replica) refresh
    once: GitHub rotates the refresh token, and a second refresh with the old one would fail and
    sign the user out. Losing the race just means reading the winner's fresh token.
    """
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT access_ciphertext, access_expires_at, refresh_ciphertext, refresh_expires_at "
            "FROM super_agent.user_github_tokens WHERE user_id = $1::uuid FOR UPDATE",
            user_id,
        )
        if row is None:
            raise ReauthorizationNeeded("no GitHub token is held for this user")
        now = datetime.now(UTC)
        expires = row["access_expires_at"]
        if expires is None or expires - EXPIRY_MARGIN > now:
            return box.decrypt(bytes(row["access_ciphertext"]), _associated(user_id, "access")).decode()
        if row["refresh_ciphertext"] is None or (
            row["refresh_expires_at"] is not None and row["refresh_expires_at"] <= now
        ):
            raise ReauthorizationNeeded("the GitHub token expired and cannot be refreshed")
        refresh = box.decrypt(bytes(row["refresh_ciphertext"]), _associated(user_id, "refresh")).decode()
        try:
            tokens = await oauth.refresh(refresh)
        except (OAuthError, GitHubAuthError) as error:
            raise ReauthorizationNeeded(f"GitHub refused to refresh the token: {error}") from error
        await store_tokens(conn, box, user_id, tokens)
        return tokens.access_token
