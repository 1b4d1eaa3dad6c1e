"""The id ledger's own operations on a real database: claim, release, prune, purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.ingest import id_ledger

WINDOW = timedelta(days=7)


async def ids_of(pool: asyncpg.Pool, team: str) -> set[str]:
    rows = await pool.fetch(
        "SELECT event_id FROM super_agent.ingested_event_ids WHERE team_id = $1::uuid", team
    )
    return {row["event_id"] for row in rows}


async def test_claim_returns_only_new_ids_and_release_makes_them_new_again(
    migrated_pool: asyncpg.Pool,
) -> None:
    """A second claim of overlapping ids returns only the new ones; released ids are new again."""
    team = str(uuid.uuid4())
    async with migrated_pool.acquire() as conn:
        assert await id_ledger.claim(conn, team, ["b", "a"]) == {"a", "b"}
        assert await id_ledger.claim(conn, team, ["a", "c"]) == {"c"}
        await id_ledger.release(conn, team, ["a"])
        assert await id_ledger.claim(conn, team, ["a", "b"]) == {"a"}


async def test_prune_deletes_expired_ids_in_chunks_and_keeps_younger_ones(
    migrated_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """25 expired ids go in chunks of 10; the ones inside the window stay."""
    monkeypatch.setattr(id_ledger, "PRUNE_CHUNK", 10)
    team = str(uuid.uuid4())
    now = datetime.now(UTC)
    await migrated_pool.execute(
        "INSERT INTO super_agent.ingested_event_ids (team_id, event_id, accepted_at) "
        "SELECT $1::uuid, 'old' || i, $2 FROM generate_series(1, 25) i",
        team,
        now - WINDOW - timedelta(minutes=1),
    )
    async with migrated_pool.acquire() as conn:
        await id_ledger.claim(conn, team, ["young"])
    assert await id_ledger.prune(migrated_pool, WINDOW, now=now) == 25
    assert await ids_of(migrated_pool, team) == {"young"}


async def test_a_team_purge_deletes_that_teams_ids_only(migrated_pool: asyncpg.Pool) -> None:
    """Purging team A leaves team B's ids (even the same ones) in place."""
    team_a, team_b = str(uuid.uuid4()), str(uuid.uuid4())
    async with migrated_pool.acquire() as conn:
        await id_ledger.claim(conn, team_a, ["x", "y"])
        await id_ledger.claim(conn, team_b, ["x"])
        assert await id_ledger.purge_teams(conn, [team_a]) == 2
    assert (await ids_of(migrated_pool, team_a), await ids_of(migrated_pool, team_b)) == (set(), {"x"})
