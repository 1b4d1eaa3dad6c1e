"""The edge's ledger of accepted token-event ids, per team (`super_agent.ingested_event_ids`).

An id is claimed when its event is accepted and kept for the duplicate window; a resend of it, in
any grouping and through any replica, is then a duplicate. Claiming is one statement per batch, in
the caller's transaction (with the plan's monthly count), so concurrent requests carrying the same
id see exactly one of them claim it: the other waits on the unique key until the first commits or
rolls back. Ids are claimed in sorted order, so two batches sharing ids always lock them in the
same order and never deadlock. Ids whose event was not accepted after all (refused by a budget,
not published) are released, so a retry is judged afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.db.inbox import Connection
from shared.db.locks import try_advisory_lock

# Expired ids are deleted this many at a time: short transactions, no long lock on the table.
PRUNE_CHUNK = 10_000


async def claim(conn: Connection, team_id: str, event_ids: Sequence[str]) -> set[str]:
    """Record the ids as accepted for the team; returns those that were not recorded before."""
    rows = await conn.fetch(
        """
        INSERT INTO super_agent.ingested_event_ids (team_id, event_id)
        SELECT $1::uuid, unnest($2::text[])
        ON CONFLICT DO NOTHING
        RETURNING event_id
        """,
        team_id,
        sorted(event_ids),
    )
    return {row["event_id"] for row in rows}


async def release(conn: Connection, team_id: str, event_ids: Sequence[str]) -> None:
    """Forget ids claimed by a request whose events were not accepted after all."""
    if event_ids:
        await conn.execute(
            "DELETE FROM super_agent.ingested_event_ids "
            "WHERE team_id = $1::uuid AND event_id = ANY($2::text[])",
            team_id,
            list(event_ids),
        )


async def prune(pool: Any, window: timedelta, *, now: datetime | None = None) -> int:
    """Delete ids accepted before the window; one replica at a time. Returns how many went."""
    before = (now or datetime.now(UTC)) - window
    removed = 0
    async with try_advisory_lock(pool, "mno.ingest.id_ledger.prune") as held:
        if not held:
            return 0
        while True:
            async with pool.acquire() as conn:
                result: str = await conn.execute(
                    """
                    DELETE FROM super_agent.ingested_event_ids WHERE ctid = ANY(ARRAY(
                        SELECT ctid FROM super_agent.ingested_event_ids WHERE accepted_at < $1 LIMIT $2
                    ))
                    """,
                    before,
                    PRUNE_CHUNK,
                )
            deleted = int(result.split()[-1])
            removed += deleted
            if deleted < PRUNE_CHUNK:
                return removed


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    """The ledger's share of a team-data purge."""
    result: str = await conn.execute(
        "DELETE FROM super_agent.ingested_event_ids WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    return int(result.split()[-1])
