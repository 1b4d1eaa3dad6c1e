"""Teams of an account in PostgreSQL: create, look up, rename, mark deleted; and the keyset cursors
the identity lists page with."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

import asyncpg

from shared.db.inbox import Connection
from shared.messages.permissions import Role
from shared.messages.teams import TeamInfo

_COLUMNS = (
    "t.id::text AS id, t.account_id::text AS account_id, t.slug, t.name, t.is_default, t.created_at, "
    "t.updated_at, t.deleted_at"
)


class SlugTaken(Exception):
    """Another team of the account already has this slug."""


def encode_cursor(*values: Any) -> str:
    """An opaque cursor over a keyset (timestamps as ISO text, everything else as JSON)."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The values of a cursor `encode_cursor` made; ValueError for anything else."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise ValueError("invalid cursor") from error
    if not isinstance(values, list) or len(values) != arity or not all(isinstance(v, str) for v in values):
        raise ValueError("invalid cursor")
    return values


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "team"


def info(row: Any, role: str | None = None) -> TeamInfo:
    return TeamInfo(
        id=row["id"],
        account_id=row["account_id"],
        slug=row["slug"],
        name=row["name"],
        is_default=row["is_default"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
        your_role=Role(role) if role else None,
    )


async def create(conn: Connection, account_id: str, *, name: str, slug: str) -> TeamInfo:
    try:
        async with conn.transaction():  # a savepoint: a taken slug must not end the caller's transaction
            row = await conn.fetchrow(
                f"INSERT INTO super_agent.teams AS t (account_id, slug, name) VALUES ($1::uuid, $2, $3) "
                f"RETURNING {_COLUMNS}",
                account_id,
                slug,
                name,
            )
    except asyncpg.UniqueViolationError as error:
        raise SlugTaken(slug) from error
    return info(row)


async def get(conn: Connection, team_id: str, *, lock: bool = False) -> TeamInfo | None:
    """A live team (not deleted, its account active); `lock` holds its row until the transaction ends,
    which serialises every change of the team's membership."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM super_agent.teams t JOIN super_agent.accounts a ON a.id = t.account_id "
        "WHERE t.id = $1::uuid AND t.deleted_at IS NULL AND a.status = 'active'"
        + (" FOR UPDATE OF t" if lock else ""),
        team_id,
    )
    return info(row) if row is not None else None


async def visible_to_user(conn: Connection, team_id: str, account_id: str, user_id: str) -> TeamInfo | None:
    """The team if it is a live team of `account_id` and `user_id` is in it (with their role)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, m.role FROM super_agent.teams t "
        "JOIN super_agent.team_members m ON m.team_id = t.id AND m.user_id = $3::uuid "
        "WHERE t.id = $1::uuid AND t.account_id = $2::uuid AND t.deleted_at IS NULL",
        team_id,
        account_id,
        user_id,
    )
    return info(row, row["role"]) if row is not None else None


async def list_for_user(
    conn: Connection,
    account_id: str,
    user_id: str,
    *,
    limit: int,
    after: tuple[str, str] | None,
    q: str | None,
) -> tuple[list[TeamInfo], str | None]:
    """The live teams of the account the user is in, oldest first, one page."""
    args: list[Any] = [account_id, user_id, limit + 1]
    where = ["t.account_id = $1::uuid", "t.deleted_at IS NULL"]
    if q:
        args.append(f"%{_escape_like(q.lower())}%")
        where.append(f"(lower(t.name) LIKE ${len(args)} OR t.slug LIKE ${len(args)})")
    if after is not None:
        args.extend([datetime.fromisoformat(after[0]), after[1]])
        where.append(f"(t.created_at, t.id) > (${len(args) - 1}, ${len(args)}::uuid)")
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, m.role FROM super_agent.teams t "
        "JOIN super_agent.team_members m ON m.team_id = t.id AND m.user_id = $2::uuid "
        f"WHERE {' AND '.join(where)} ORDER BY t.created_at, t.id LIMIT $3",
        *args,
    )
    page = [info(row, row["role"]) for row in rows[:limit]]
    more = len(rows) > limit
    return page, encode_cursor(page[-1].created_at, page[-1].id) if more and page else None


async def rename(conn: Connection, team_id: str, *, name: str | None, slug: str | None) -> TeamInfo:
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "UPDATE super_agent.teams AS t SET name = coalesce($2, name), slug = coalesce($3, slug), "
                f"updated_at = now() WHERE id = $1::uuid RETURNING {_COLUMNS}",
                team_id,
                name,
                slug,
            )
    except asyncpg.UniqueViolationError as error:
        raise SlugTaken(slug or "") from error
    return info(row)


async def mark_deleted(conn: Connection, team_id: str) -> TeamInfo:
    row = await conn.fetchrow(
        "UPDATE super_agent.teams AS t SET deleted_at = now(), updated_at = now() "
        f"WHERE id = $1::uuid RETURNING {_COLUMNS}",
        team_id,
    )
    return info(row)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
