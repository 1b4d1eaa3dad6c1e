"""The advisories in PostgreSQL (shared by every team) and each replica's in-memory index of them.

Every stored change takes a new `revision` from one sequence, so a replica's index catches up with
the rows past the last revision it read: an import on another replica is seen by the next scan here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.supply_chain.index import AdvisoryIndex, package_key
from services.supply_chain.osv import Advisory
from shared.db.inbox import Connection


@dataclass(frozen=True)
class Held:
    modified: Any
    packages: frozenset[tuple[str, str]]


def packages_of(advisory: Advisory) -> frozenset[tuple[str, str]]:
    return frozenset(package_key(a.package.ecosystem, a.package.name) for a in advisory.affected)


async def held_versions(conn: Connection) -> dict[str, Any]:
    """id → modified of every stored advisory (what an import compares against)."""
    rows = await conn.fetch("SELECT id, modified FROM supply_chain.advisories")
    return {r["id"]: aware(r["modified"]) for r in rows}


def aware(instant: datetime) -> datetime:
    """OSV instants are UTC; one without its offset is read as UTC, so every pair compares."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


async def held_packages(conn: Connection, ids: list[str]) -> dict[str, set[tuple[str, str]]]:
    rows = await conn.fetch(
        "SELECT advisory_id, ecosystem, name FROM supply_chain.advisory_packages WHERE advisory_id = ANY($1)",
        ids,
    )
    found: dict[str, set[tuple[str, str]]] = {}
    for r in rows:
        found.setdefault(r["advisory_id"], set()).add((r["ecosystem"], r["name"]))
    return found


async def upsert(conn: Connection, records: list[tuple[dict[str, Any], Advisory]]) -> None:
    """Store new or changed records (each with a new revision) and the packages each names."""
    if not records:
        return
    await conn.executemany(
        "INSERT INTO supply_chain.advisories (id, modified, withdrawn, aliases, summary, osv) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET modified = EXCLUDED.modified, "
        "withdrawn = EXCLUDED.withdrawn, aliases = EXCLUDED.aliases, summary = EXCLUDED.summary, "
        "osv = EXCLUDED.osv, revision = nextval('supply_chain.advisory_revisions'), imported_at = now()",
        [(a.id, a.modified, a.withdrawn, list(a.aliases), a.summary, data) for data, a in records],
    )
    ids = [a.id for _, a in records]
    await conn.execute("DELETE FROM supply_chain.advisory_packages WHERE advisory_id = ANY($1)", ids)
    await conn.executemany(
        "INSERT INTO supply_chain.advisory_packages (advisory_id, ecosystem, name) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        [(a.id, eco, name) for _, a in records for eco, name in packages_of(a)],
    )


class LiveIndex:
    """An AdvisoryIndex kept current with the table (call `refresh` before using it)."""

    def __init__(self) -> None:
        self.index = AdvisoryIndex()
        self._revision = 0
        self._lock = asyncio.Lock()
        self.latest_modified: Any = None

    async def refresh(self, conn: Connection) -> None:
        async with self._lock:
            rows = await conn.fetch(
                "SELECT osv, revision FROM supply_chain.advisories WHERE revision > $1 ORDER BY revision",
                self._revision,
            )
            if not rows:
                return
            advisories = await asyncio.to_thread(_parse_rows, [r["osv"] for r in rows])
            for advisory in advisories:
                self.index.add(advisory)
            self._revision = rows[-1]["revision"]
            self.latest_modified = await conn.fetchval("SELECT max(modified) FROM supply_chain.advisories")


def _parse_rows(documents: Iterable[dict[str, Any]]) -> list[Advisory]:
    return [Advisory.model_validate(d) for d in documents]
