"""Invitations to a team in PostgreSQL, and their tokens.

A token reads `mnoinv_<invitation id, 32 hex>_<secret>`; only the SHA-256 of the secret is stored.
Why not an HMAC-signed token: an invitation must be single-use, revocable and replaced by a re-send,
so accepting has to read (and lock) its row anyway; a signature would add a key to configure and
rotate while protecting nothing the row does not. A random 256-bit secret cannot be guessed, a
leaked table yields no usable token, and revoking or re-sending is just changing the row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.identity.teams import encode_cursor
from shared.db.inbox import Connection
from shared.messages.permissions import Role
from shared.messages.teams import InvitationInfo, InvitationStatus

PREFIX = "mnoinv_"
_TOKEN = re.compile(r"^mnoinv_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")

_STATUS = (
    "CASE WHEN i.accepted_at IS NOT NULL THEN 'accepted' WHEN i.revoked_at IS NOT NULL THEN 'revoked' "
    "WHEN i.expires_at <= now() THEN 'expired' ELSE 'pending' END"
)
_COLUMNS = (
    "i.id::text AS id, i.team_id::text AS team_id, i.email, i.github_login, i.role, "
    f"{_STATUS} AS status, i.invited_by::text AS invited_by, i.created_at, i.sent_at, i.send_count, "
    "i.expires_at, i.accepted_at, i.accepted_by::text AS accepted_by, i.revoked_at, i.secret_hash"
)


@dataclass(frozen=True)
class Presented:
    """A token taken apart: which invitation it claims to be, and the secret to check."""

    invitation_id: str
    secret: str


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


def token_for(invitation_id: str, secret: str) -> str:
    return f"{PREFIX}{UUID(invitation_id).hex}_{secret}"


def parse(token: str) -> Presented | None:
    match = _TOKEN.match(token)
    if match is None:
        return None
    return Presented(str(UUID(match.group(1))), match.group(2))


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def matches(row: Any, secret: str) -> bool:
    return hmac.compare_digest(bytes(row["secret_hash"]), secret_hash(secret))


def info(row: Any) -> InvitationInfo:
    return InvitationInfo(
        id=row["id"],
        team_id=row["team_id"],
        email=row["email"],
        github_login=row["github_login"],
        role=Role(row["role"]),
        status=row["status"],
        invited_by=row["invited_by"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        send_count=row["send_count"],
        expires_at=row["expires_at"],
        accepted_at=row["accepted_at"],
        accepted_by=row["accepted_by"],
        revoked_at=row["revoked_at"],
    )


async def open_for(conn: Connection, team_id: str, *, email: str | None, github_login: str | None) -> Any:
    """The team's open (not accepted, not revoked) invitation of this invitee, if any."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM super_agent.invitations i WHERE i.team_id = $1::uuid "
        "AND i.accepted_at IS NULL AND i.revoked_at IS NULL "
        "AND (lower(i.email) = lower($2) OR lower(i.github_login) = lower($3))",
        team_id,
        email,
        github_login,
    )


async def create(
    conn: Connection,
    team_id: str,
    *,
    email: str | None,
    github_login: str | None,
    role: Role,
    invited_by: str | None,
    ttl: timedelta,
) -> tuple[InvitationInfo, str]:
    secret = new_secret()
    row = await conn.fetchrow(
        f"""
        INSERT INTO super_agent.invitations AS i
            (team_id, email, github_login, role, secret_hash, invited_by, expires_at)
        VALUES ($1::uuid, $2, $3, $4, $5, $6::uuid, now() + $7::interval)
        RETURNING {_COLUMNS}
        """,
        team_id,
        email,
        github_login,
        role.value,
        secret_hash(secret),
        invited_by,
        ttl,
    )
    return info(row), token_for(row["id"], secret)


async def get(conn: Connection, team_id: str, invitation_id: str, *, lock: bool = False) -> Any:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM super_agent.invitations i WHERE i.team_id = $1::uuid AND i.id = $2::uuid"
        + (" FOR UPDATE" if lock else ""),
        team_id,
        invitation_id,
    )


async def get_by_id(conn: Connection, invitation_id: str) -> Any:
    """For accepting: the row a token claims, locked (its team is not known to the invitee yet)."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM super_agent.invitations i WHERE i.id = $1::uuid FOR UPDATE", invitation_id
    )


async def list_invitations(
    conn: Connection,
    team_id: str,
    *,
    status: InvitationStatus | None,
    limit: int,
    after: tuple[str, str] | None,
) -> tuple[list[InvitationInfo], str | None]:
    args: list[Any] = [team_id, limit + 1]
    where = ["i.team_id = $1::uuid"]
    if status is not None:
        args.append(status)
        where.append(f"{_STATUS} = ${len(args)}")
    if after is not None:
        args.extend([datetime.fromisoformat(after[0]), after[1]])
        where.append(f"(i.created_at, i.id) < (${len(args) - 1}, ${len(args)}::uuid)")
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM super_agent.invitations i WHERE {' AND '.join(where)} "
        "ORDER BY i.created_at DESC, i.id DESC LIMIT $2",
        *args,
    )
    page = [info(row) for row in rows[:limit]]
    more = len(rows) > limit
    return page, encode_cursor(page[-1].created_at, page[-1].id) if more and page else None


async def renew(conn: Connection, invitation_id: str, *, ttl: timedelta) -> tuple[InvitationInfo, str]:
    """A new secret and expiry for an open invitation: the previous token stops working."""
    secret = new_secret()
    row = await conn.fetchrow(
        f"""
        UPDATE super_agent.invitations AS i SET secret_hash = $2, sent_at = now(),
            send_count = send_count + 1, expires_at = now() + $3::interval
        WHERE id = $1::uuid RETURNING {_COLUMNS}
        """,
        invitation_id,
        secret_hash(secret),
        ttl,
    )
    return info(row), token_for(row["id"], secret)


async def revoke(conn: Connection, invitation_id: str, by: str | None) -> InvitationInfo:
    row = await conn.fetchrow(
        f"UPDATE super_agent.invitations AS i SET revoked_at = now(), revoked_by = $2::uuid "
        f"WHERE id = $1::uuid RETURNING {_COLUMNS}",
        invitation_id,
        by,
    )
    return info(row)


async def mark_accepted(conn: Connection, invitation_id: str, user_id: str) -> InvitationInfo:
    row = await conn.fetchrow(
        f"UPDATE super_agent.invitations AS i SET accepted_at = now(), accepted_by = $2::uuid "
        f"WHERE id = $1::uuid RETURNING {_COLUMNS}",
        invitation_id,
        user_id,
    )
    return info(row)
