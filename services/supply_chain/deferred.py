"""Versions held back until their team's plan includes `supply_chain` (`supply_chain.deferred_versions`).

A team whose plan lacks the feature gets no SBOM, finding, alert or download block; the versions it
publishes (or takes from an upstream) meanwhile are kept as the events that announced them, so that
the day its plan gains the feature they get their SBOMs as if the events had just come. Plans live
with the SuperAgent and a plan change is announced to no agent: the catch-up job asks it which of
these teams are entitled now (`shared.entitlements`), and only while some version waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.db.inbox import Connection

Source = Literal["artifact", "upstream"]


@dataclass(frozen=True)
class Deferred:
    team_id: str
    source: Source
    ecosystem: str
    name: str
    version: str
    event: dict[str, Any]


async def defer(conn: Connection, item: Deferred) -> None:
    # The first file's event per version, as the backfill takes it: a later file changes nothing.
    await conn.execute(
        "INSERT INTO supply_chain.deferred_versions (team_id, source, ecosystem, name, version, event) "
        "VALUES ($1::uuid, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING",
        item.team_id,
        item.source,
        item.ecosystem,
        item.name,
        item.version,
        item.event,
    )


async def waiting_teams(conn: Connection) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT team_id::text AS team_id FROM supply_chain.deferred_versions")
    return [r["team_id"] for r in rows]


async def of_team(conn: Connection, team_id: str) -> list[Deferred]:
    """The team's deferred versions, oldest first."""
    rows = await conn.fetch(
        "SELECT team_id::text AS team_id, source, ecosystem, name, version, event "
        "FROM supply_chain.deferred_versions WHERE team_id = $1::uuid ORDER BY deferred_at, source, name, "
        "version",
        team_id,
    )
    return [
        Deferred(r["team_id"], r["source"], r["ecosystem"], r["name"], r["version"], r["event"]) for r in rows
    ]


async def forget(conn: Connection, item: Deferred) -> None:
    await conn.execute(
        "DELETE FROM supply_chain.deferred_versions WHERE team_id = $1::uuid AND source = $2 "
        "AND ecosystem = $3 AND name = $4 AND version = $5",
        item.team_id,
        item.source,
        item.ecosystem,
        item.name,
        item.version,
    )


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    status = await conn.execute(
        "DELETE FROM supply_chain.deferred_versions WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    return int(status.split()[-1])
