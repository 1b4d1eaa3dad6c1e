"""Appending to the audit log in real PostgreSQL: the chain, concurrency, transactions, triggers."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.audit.chain import genesis_hash, verify_chain
from services.audit.models import AuditEntry, AuditQuery
from services.audit.store import append, query, verify_team
from tests.audit.conftest import new_entry


async def all_entries(pool: asyncpg.Pool, team: str) -> list[AuditEntry]:
    async with pool.acquire() as conn:
        page = await query(conn, team, AuditQuery(limit=500))
    return list(reversed(page.entries))


async def test_append_builds_a_valid_chain(pool: asyncpg.Pool, team: str) -> None:
    """Appends get seq 1..n, each chained from the previous hash (the first from genesis), read back equal."""
    async with pool.acquire() as conn:
        appended = [await append(conn, team, new_entry(n)) for n in range(5)]
        report = await verify_team(conn, team)

    assert [e.seq for e in appended] == [1, 2, 3, 4, 5]
    assert appended[0].prev_hash == genesis_hash(team)
    assert [e.prev_hash for e in appended[1:]] == [e.hash for e in appended[:-1]]
    assert await all_entries(pool, team) == appended
    assert verify_chain(appended) == []
    assert report.ok
    assert (report.entries_checked, report.head_seq) == (5, 5)


async def test_fifty_concurrent_appends_do_not_fork_the_chain(
    database_dsn: str, pool: asyncpg.Pool, team: str
) -> None:
    """50 concurrent appends on 50 connections get seq 1..50 exactly once, in one valid chain."""
    connections = [await asyncpg.connect(database_dsn) for _ in range(50)]
    start = asyncio.Event()

    async def one(conn: asyncpg.Connection, n: int) -> int:
        await start.wait()
        async with conn.transaction():
            await conn.execute("SELECT pg_sleep(0.001 * ($1 % 5))", n)  # the audited change
            entry = await append(conn, team, new_entry(n))
        return entry.seq

    try:
        tasks = [asyncio.create_task(one(conn, n)) for n, conn in enumerate(connections)]
        await asyncio.sleep(0.05)
        start.set()
        seqs = await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(conn.close() for conn in connections))

    assert sorted(seqs) == list(range(1, 51))
    entries = await all_entries(pool, team)
    assert [e.seq for e in entries] == list(range(1, 51))
    assert sorted(int(e.correlation_id.removeprefix("corr-")) for e in entries) == list(range(50))
    assert verify_chain(entries) == []
    async with pool.acquire() as conn:
        assert (await verify_team(conn, team)).ok


async def test_chains_of_two_teams_are_independent(pool: asyncpg.Pool, team: str, other_team: str) -> None:
    """Interleaved appends of two teams give each its own seq 1..n and its own valid chain."""
    async with pool.acquire() as conn:
        for n in range(6):
            await append(conn, team if n % 2 == 0 else other_team, new_entry(n))
        await append(conn, team, new_entry(6))
        reports = [await verify_team(conn, t) for t in (team, other_team)]

    ours, theirs = await all_entries(pool, team), await all_entries(pool, other_team)
    assert [e.seq for e in ours] == [1, 2, 3, 4]
    assert [e.seq for e in theirs] == [1, 2, 3]
    assert ours[0].prev_hash == genesis_hash(team) != theirs[0].prev_hash == genesis_hash(other_team)
    assert [(r.ok, r.entries_checked) for r in reports] == [(True, 4), (True, 3)]


async def test_audit_entry_commits_and_rolls_back_with_the_change(pool: asyncpg.Pool, team: str) -> None:
    """An append rolled back with its change leaves no entry and no gap: the next append reuses its seq."""
    async with pool.acquire() as conn:
        await append(conn, team, new_entry(0))
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("UPDATE super_agent.teams SET name = 'renamed' WHERE id = $1::uuid", team)
        assert (await append(conn, team, new_entry(1))).seq == 2
        await transaction.rollback()  # the audited change failed
        assert await conn.fetchval("SELECT name FROM super_agent.teams WHERE id = $1::uuid", team) == "acme"
        second = await append(conn, team, new_entry(2))
        assert second.seq == 2
        assert (await verify_team(conn, team)).ok


async def test_occurred_at_is_the_transactions_time(pool: asyncpg.Pool, team: str) -> None:
    """An entry's time is its transaction's now(), the instant the audited change itself records."""
    async with pool.acquire() as conn, conn.transaction():
        now = await conn.fetchval("SELECT now()")
        entry = await append(conn, team, new_entry(0))
    assert entry.occurred_at == now


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE super_agent.audit_entries SET after = '{}'::jsonb WHERE team_id = $1::uuid",
        "UPDATE super_agent.audit_entries SET seq = seq WHERE team_id = $1::uuid AND seq = 1",
        "DELETE FROM super_agent.audit_entries WHERE team_id = $1::uuid",
        "DELETE FROM super_agent.audit_heads WHERE team_id = $1::uuid",
        "UPDATE super_agent.audit_heads SET seq = 1 WHERE team_id = $1::uuid",
    ],
)
async def test_history_cannot_be_changed(pool: asyncpg.Pool, team: str, statement: str) -> None:
    """UPDATE and DELETE of entries, and deleting or rewinding a head, are refused by triggers."""
    async with pool.acquire() as conn:
        for n in range(3):
            await append(conn, team, new_entry(n))
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match=r"append-only|only removed|only move forward"
        ):
            await conn.execute(statement, team)
        assert (await verify_team(conn, team)).ok


async def test_truncate_is_refused(pool: asyncpg.Pool, team: str) -> None:
    """TRUNCATE (which row triggers do not see) is refused on both tables."""
    async with pool.acquire() as conn:
        await append(conn, team, new_entry(0))
        for table in ("audit_entries", "audit_heads"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(f"TRUNCATE super_agent.{table}")
        assert (await verify_team(conn, team)).entries_checked == 1


async def test_inserts_around_the_store_must_extend_the_head(pool: asyncpg.Pool, team: str) -> None:
    """A row inserted directly, not at the head's next seq and hash, is refused."""
    async with pool.acquire() as conn:
        entry = await append(conn, team, new_entry(0))
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="does not extend"):
            await conn.execute(
                """
                INSERT INTO super_agent.audit_entries (team_id, seq, id, occurred_at, actor_kind, action,
                    resource_type, prev_hash, hash)
                VALUES ($1::uuid, 5, gen_random_uuid(), now(), 'system', 'x.y', 'x', $2, $2)
                """,
                team,
                entry.hash,
            )
