"""Purging a team's audit log: the one sanctioned way past the append-only triggers."""

from __future__ import annotations

import asyncpg
import pytest

from services.audit.store import append, purge_team, verify_all, verify_team
from tests.audit.conftest import make_team, new_entry


async def counts(conn: asyncpg.Connection, team: str) -> tuple[int, int]:
    entries = await conn.fetchval(
        "SELECT count(*) FROM super_agent.audit_entries WHERE team_id = $1::uuid", team
    )
    heads = await conn.fetchval("SELECT count(*) FROM super_agent.audit_heads WHERE team_id = $1::uuid", team)
    return entries, heads


async def test_purge_removes_only_the_purged_teams(pool: asyncpg.Pool, team: str, other_team: str) -> None:
    """purge_team deletes the given teams' entries and heads despite the triggers, and no others."""
    third = await make_team(pool, "initech")
    async with pool.acquire() as conn:
        for n in range(4):
            for t in (team, other_team, third):
                await append(conn, t, new_entry(n))
        deleted = await purge_team(conn, [team, third])

        assert deleted == 2 * (4 + 1)
        assert await counts(conn, team) == (0, 0)
        assert await counts(conn, third) == (0, 0)
        assert await counts(conn, other_team) == (4, 1)
        assert [(r.team_id, r.ok, r.entries_checked) for r in await verify_all(conn)] == [
            (other_team, True, 4)
        ]
        assert await purge_team(conn, [team]) == 0  # idempotent, like every purger
        assert await purge_team(conn, []) == 0


async def test_purge_licence_ends_with_the_purge(pool: asyncpg.Pool, team: str, other_team: str) -> None:
    """After the purge, its transaction may not delete other history; a rolled-back purge deletes nothing."""
    async with pool.acquire() as conn:
        for t in (team, other_team):
            await append(conn, t, new_entry(0))
        transaction = conn.transaction()
        await transaction.start()
        await purge_team(conn, [team])
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM super_agent.audit_entries WHERE team_id = $1::uuid", other_team)
        await transaction.rollback()
        assert await counts(conn, team) == (1, 1)
        assert (await verify_team(conn, other_team)).ok


async def test_purge_matches_the_mesh_purger_signature(pool: asyncpg.Pool, team: str) -> None:
    """purge_team works as a mesh purger in the caller's transaction; a new chain can start after."""
    async with pool.acquire() as conn:
        await append(conn, team, new_entry(0))
        async with conn.transaction():
            assert await purge_team(conn, [team]) == 2
        fresh = await append(conn, team, new_entry(1))
        assert fresh.seq == 1
        assert (await verify_team(conn, team)).ok
