"""Who is in a team, with which role (table `team_members`). Callers change membership only with
the team's row locked (`teams.get(..., lock=True)`), so rules over the whole team (its last owner)
hold even when requests race."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.identity.teams import encode_cursor
from shared.db.inbox import Connection
from shared.messages.permissions import Role
from shared.messages.teams import MemberInfo

_COLUMNS = "m.user_id::text AS user_id, u.login, u.name, m.role, m.joined_at"
_FROM = "super_agent.team_members m JOIN super_agent.users u ON u.id = m.user_id"


def _info(row: Any) -> MemberInfo:
    return MemberInfo(
        user_id=row["user_id"],
        login=row["login"],
        name=row["name"],
        role=Role(row["role"]),
        joined_at=row["joined_at"],
    )


async def list_members(
    conn: Connection, team_id: str, *, role: Role | None, limit: int, after: tuple[str, str] | None
) -> tuple[list[MemberInfo], str | None]:
    args: list[Any] = [team_id, limit + 1]
    where = ["m.team_id = $1::uuid"]
    if role is not None:
        args.append(role.value)
        where.append(f"m.role = ${len(args)}")
    if after is not None:
        args.extend([datetime.fromisoformat(after[0]), after[1]])
        where.append(f"(m.joined_at, m.user_id) > (${len(args) - 1}, ${len(args)}::uuid)")
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE {' AND '.join(where)} "
        "ORDER BY m.joined_at, m.user_id LIMIT $2",
        *args,
    )
    page = [_info(row) for row in rows[:limit]]
    more = len(rows) > limit
    return page, encode_cursor(page[-1].joined_at, page[-1].user_id) if more and page else None


async def get(conn: Connection, team_id: str, user_id: str) -> MemberInfo | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE m.team_id = $1::uuid AND m.user_id = $2::uuid",
        team_id,
        user_id,
    )
    return _info(row) if row is not None else None


async def owner_count(conn: Connection, team_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM super_agent.team_members WHERE team_id = $1::uuid AND role = 'owner'", team_id
    )
    return count


async def add(conn: Connection, team_id: str, user_id: str, role: Role) -> MemberInfo:
    await conn.execute(
        "INSERT INTO super_agent.team_members (team_id, user_id, role) VALUES ($1::uuid, $2::uuid, $3)",
        team_id,
        user_id,
        role.value,
    )
    member = await get(conn, team_id, user_id)
    assert member is not None
    return member


async def set_role(conn: Connection, team_id: str, user_id: str, role: Role) -> MemberInfo:
    await conn.execute(
        "UPDATE super_agent.team_members SET role = $3 WHERE team_id = $1::uuid AND user_id = $2::uuid",
        team_id,
        user_id,
        role.value,
    )
    member = await get(conn, team_id, user_id)
    assert member is not None
    return member


async def remove(conn: Connection, team_id: str, user_id: str) -> int:
    """Take the user out of the team; the API keys they made for it stop working with them (a key
    must not outlive its creator's right to act in the team). Returns the keys revoked."""
    await conn.execute(
        "DELETE FROM super_agent.team_members WHERE team_id = $1::uuid AND user_id = $2::uuid",
        team_id,
        user_id,
    )
    status: str = await conn.execute(
        "UPDATE super_agent.api_keys SET revoked_at = now() "
        "WHERE team_id = $1::uuid AND created_by = $2::uuid AND revoked_at IS NULL",
        team_id,
        user_id,
    )
    return int(status.split()[-1])
