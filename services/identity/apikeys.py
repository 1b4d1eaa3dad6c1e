"""API keys for machines (ingest, CI uploads): shown once, stored hashed, scoped to a team and a
set of permissions, revocable, with the time of last use.

A key reads `mno_<key id>_<secret>`: the `mno_` prefix makes leaked keys recognisable to secret
scanners, the key id finds the row, and only the SHA-256 of the secret is stored. A plain hash is
enough because the secret is 238 random bits: there is nothing to brute-force, so a slow password
hash would only slow every request down.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.db.inbox import Connection
from shared.messages.identity import ApiKeyInfo
from shared.messages.permissions import Permission

PREFIX = "mno_"
_ALPHABET = string.ascii_letters + string.digits
_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_TOKEN = re.compile(r"^mno_([a-z0-9]{12})_([A-Za-z0-9]{40})$")
# last_used_at is advisory: writing it on every request would turn every read into a write.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class VerifiedKey:
    key_id: str
    team_id: str
    created_by: str | None
    permissions: tuple[str, ...]
    last_used_at: datetime | None


def generate() -> tuple[str, str, str]:
    """A new (key id, secret, token)."""
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(12))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(40))
    return key_id, secret, f"{PREFIX}{key_id}_{secret}"


def parse(token: str) -> tuple[str, str] | None:
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


_COLUMNS = (
    "key_id, team_id::text AS team_id, name, permissions, created_by::text AS created_by, created_at, "
    "expires_at, last_used_at, revoked_at"
)


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row["key_id"],
        team_id=row["team_id"],
        name=row["name"],
        permissions=[Permission(p) for p in row["permissions"] if p in {q.value for q in Permission}],
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def create(
    conn: Connection,
    *,
    team_id: str,
    name: str,
    permissions: list[Permission],
    created_by: str | None,
    expires_at: datetime | None = None,
) -> tuple[ApiKeyInfo, str]:
    key_id, secret, token = generate()
    row = await conn.fetchrow(
        f"""
        INSERT INTO super_agent.api_keys
            (key_id, team_id, name, secret_hash, permissions, created_by, expires_at)
        VALUES ($1, $2::uuid, $3, $4, $5, $6::uuid, $7)
        RETURNING {_COLUMNS}
        """,
        key_id,
        team_id,
        name,
        secret_hash(secret),
        sorted({p.value for p in permissions}),
        created_by,
        expires_at,
    )
    return _info(row), token


async def list_keys(conn: Connection, team_id: str, *, include_revoked: bool) -> list[ApiKeyInfo]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM super_agent.api_keys WHERE team_id = $1::uuid "
        "AND ($2 OR revoked_at IS NULL) ORDER BY created_at DESC",
        team_id,
        include_revoked,
    )
    return [_info(row) for row in rows]


async def revoke(conn: Connection, team_id: str, key_id: str, revoked_by: str | None) -> ApiKeyInfo | None:
    """Revoke a key of `team_id`; None when that team has no such key (another team's id is
    indistinguishable from a missing one)."""
    row = await conn.fetchrow(
        f"""
        UPDATE super_agent.api_keys SET revoked_at = coalesce(revoked_at, now()),
            revoked_by = coalesce(revoked_by, $3::uuid)
        WHERE team_id = $1::uuid AND key_id = $2
        RETURNING {_COLUMNS}
        """,
        team_id,
        key_id,
        revoked_by,
    )
    return _info(row) if row is not None else None


async def verify(conn: Connection, token: str, *, now: datetime | None = None) -> VerifiedKey | None:
    """The key behind `token`, if it exists, matches, is not revoked and has not expired."""
    parsed = parse(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = await conn.fetchrow(
        """
        SELECT k.key_id, k.team_id::text AS team_id, k.created_by::text AS created_by, k.secret_hash,
            k.permissions, k.expires_at, k.revoked_at, k.last_used_at, a.status AS account_status,
            t.deleted_at AS team_deleted_at
        FROM super_agent.api_keys k
        JOIN super_agent.teams t ON t.id = k.team_id
        JOIN super_agent.accounts a ON a.id = t.account_id
        WHERE k.key_id = $1
        """,
        key_id,
    )
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), secret_hash(secret)):
        return None
    now = now or datetime.now(UTC)
    if row["revoked_at"] is not None or (row["expires_at"] is not None and row["expires_at"] <= now):
        return None
    if row["account_status"] != "active":
        return None  # a deactivated account's keys stop working with it
    if row["team_deleted_at"] is not None:
        return None  # a deleted team's keys stop working with it (its data is being purged)
    return VerifiedKey(
        key_id=row["key_id"],
        team_id=row["team_id"],
        created_by=row["created_by"],
        permissions=tuple(row["permissions"]),
        last_used_at=row["last_used_at"],
    )


def due_for_touch(key: VerifiedKey, *, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL


async def touch(conn: Connection, key: VerifiedKey, *, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    if not due_for_touch(key, now=now):
        return
    await conn.execute("UPDATE super_agent.api_keys SET last_used_at = $2 WHERE key_id = $1", key.key_id, now)
