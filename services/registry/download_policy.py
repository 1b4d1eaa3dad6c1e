"""The teams' download policies as the ArtifactManagerAgent applies them: versions whose downloads
are blocked, and the quarantine of new upstream versions.

The SupplyChainAgent decides (it owns findings, triage, policies and overrides) and announces each
decision as an event; this agent keeps the decisions in its own tables and checks them where it
resolves a file. So a download costs one indexed look-up in the database the resolution reads
anyway, never a request to another agent per file, and a download works while the SupplyChainAgent
is down (with the decisions last announced). A triage or override reaches the table within an event's
delivery, and the edges' cached file locations of the team are dropped then (a `REGISTRY_CHANGED`
notice): no restart, no cache to wait for.

The handlers need no inbox: each decision carries a revision, and a row is replaced only by a higher
one, so a redelivered or late event changes nothing.

Quarantine (`hidden_versions`) is one function for every upstream: a page or packument builder hands
it the versions it is about to list, with the upstream's upload instant where the upstream gives one
(PEP 700 `upload-time`, a packument's `time`), and drops the versions it answers. Without an upload
instant, a version's age is counted from when this registry first saw it (recorded here on first
sight, by a team with a quarantine), so a version an upstream lists without a date is "new" the
first time it is proxied: the cautious reading, and the one that needs no date from the upstream.
A version the team overrode (`download_overrides`, from `download_override_changed`) is never hidden.

Blocks apply to upstream versions as to the team's own (services/registry/upstream_matching.py: the
SupplyChainAgent matches every upstream version a team takes, and a block arrives here the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.registry.errors import RegistryError
from services.registry.notices import announce
from services.registry.store import ResolvedFile
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.db.inbox import Connection
from shared.messages.artifacts import Ecosystem
from shared.messages.supply_chain_policy import (
    DownloadOverrideChanged,
    DownloadPolicyChanged,
    VersionBlockChanged,
)

__all__ = [
    "BlockedByPolicy",
    "DownloadPolicyConsumer",
    "Quarantined",
    "blocked_message",
    "hidden_versions",
    "quarantine_days",
    "quarantine_ends",
    "quarantine_message",
    "refuse_blocked",
]

S = "artifact_manager"
# Findings named in a refusal: pip shows the first 300 characters of the status line.
_NAMED = 5


class BlockedByPolicy(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("blocked_by_policy", message)


class Quarantined(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("quarantined", message)


class DownloadPolicyConsumer:
    """The consumers of the SupplyChainAgent's `version_block_changed`, `download_policy_changed` and
    `download_override_changed`.

    Each decision, once applied, is announced (`REGISTRY_CHANGED`, services/registry/notices.py): the
    edges keep the locations of a team's files, and a version blocked now must not be served from
    there. A notice the bus does not take fails the delivery, which JetStream repeats (the row is not
    written twice: revisions), so the edges hear of it (or forget everything when they reconnect)."""

    def __init__(self, pool: Any, bus: Bus | None = None) -> None:
        self._pool = pool
        self._bus = bus

    async def _announce(self, team_id: str, ecosystem: Ecosystem | None, name: str | None) -> None:
        if self._bus is not None:
            await announce(self._bus, team_id, ecosystem, name)

    async def on_version_block_changed(
        self, event: VersionBlockChanged, ctx: MessageContext, delivery: Delivery
    ) -> bool:
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {S}.blocked_versions (team_id, ecosystem, name, version, blocked, findings, "
                "revision) VALUES ($1::uuid, $2, $3, $4, $5, $6::jsonb, $7) "
                "ON CONFLICT (team_id, ecosystem, name, version) DO UPDATE SET blocked = EXCLUDED.blocked, "
                "findings = EXCLUDED.findings, revision = EXCLUDED.revision "
                f"WHERE {S}.blocked_versions.revision < EXCLUDED.revision",
                event.team_id,
                event.ecosystem.value,
                event.name,
                event.version,
                event.blocked,
                [f.model_dump(mode="json") for f in event.findings],
                event.revision,
            )
        await self._announce(event.team_id, event.ecosystem, event.name)
        return True

    async def on_download_policy_changed(
        self, event: DownloadPolicyChanged, ctx: MessageContext, delivery: Delivery
    ) -> bool:
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {S}.download_policies (team_id, quarantine_days, block_severity, revision) "
                "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (team_id) DO UPDATE SET "
                "quarantine_days = EXCLUDED.quarantine_days, block_severity = EXCLUDED.block_severity, "
                "revision = EXCLUDED.revision "
                f"WHERE {S}.download_policies.revision < EXCLUDED.revision",
                event.team_id,
                event.quarantine_days,
                event.block_severity.value,
                event.revision,
            )
        await self._announce(event.team_id, None, None)
        return True

    async def on_download_override_changed(
        self, event: DownloadOverrideChanged, ctx: MessageContext, delivery: Delivery
    ) -> bool:
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {S}.download_overrides (team_id, ecosystem, name, version, allowed, revision) "
                "VALUES ($1::uuid, $2, $3, $4, $5, $6) "
                "ON CONFLICT (team_id, ecosystem, name, version) DO UPDATE SET allowed = EXCLUDED.allowed, "
                "revision = EXCLUDED.revision "
                f"WHERE {S}.download_overrides.revision < EXCLUDED.revision",
                event.team_id,
                event.ecosystem.value,
                event.name,
                event.version,
                event.allowed,
                event.revision,
            )
        await self._announce(event.team_id, event.ecosystem, event.name)
        return True


def blocked_message(name: str, version: str, findings: list[dict[str, Any]]) -> str:
    named = ", ".join(
        f"{f['advisory_id']} ({f['severity'] or 'unrated'}, {f['package']}, finding {f['finding_id']})"
        for f in findings[:_NAMED]
    )
    more = f" and {len(findings) - _NAMED} more" if len(findings) > _NAMED else ""
    return (
        f"{name} {version} is blocked by your team's supply-chain policy: open findings {named}{more}. "
        "Triage them (POST /api/v1/vulnerabilities/{finding_id}/triage) or allow this version "
        "(POST /api/v1/supply-chain/policy/overrides)"
    )


def refuse_blocked(found: ResolvedFile) -> None:
    """Raises `BlockedByPolicy` (naming the findings) when the file's version is blocked; whether it
    is was read with the file (`store.resolve_file`)."""
    if found.blocked_findings is not None:
        raise BlockedByPolicy(blocked_message(found.package, found.version, found.blocked_findings))


@dataclass(frozen=True, slots=True)
class Quarantine:
    days: int
    hidden: dict[str, datetime]
    """The versions not to list, each with the instant it leaves the quarantine."""


def quarantine_ends(ages: Mapping[str, datetime], days: int, now: datetime) -> dict[str, datetime]:
    """Pure: of versions born at `ages`, those younger than `days` at `now`, each with when it is old
    enough."""
    if days <= 0:
        return {}
    window = timedelta(days=days)
    return {version: born + window for version, born in ages.items() if born + window > now}


async def quarantine_days(conn: Connection, team_id: str) -> int:
    """The team's quarantine in days; 0 when it has none."""
    days = await conn.fetchval(
        f"SELECT quarantine_days FROM {S}.download_policies WHERE team_id = $1::uuid", team_id
    )
    return int(days or 0)


async def hidden_versions(
    conn: Connection,
    team_id: str,
    upstream: str,
    ecosystem: Ecosystem,
    name: str,
    uploaded: Mapping[str, datetime | None],
    now: datetime | None = None,
    *,
    days: int | None = None,
) -> Quarantine:
    """The versions of an upstream project the team's quarantine hides (see the module's docstring).
    `uploaded` maps every version about to be listed to the upstream's upload instant, or None;
    `days`, the team's quarantine when the caller has just read it (`quarantine_days`)."""
    now = now or datetime.now(UTC)
    if days is None:
        days = await quarantine_days(conn, team_id)
    if not days or not uploaded:
        return Quarantine(days or 0, {})
    undated = sorted(v for v, at in uploaded.items() if at is None)
    first_seen: dict[str, datetime] = {}
    if undated:
        # First sight is recorded once (DO NOTHING: a listing does not rewrite the rows it finds).
        await conn.execute(
            f"INSERT INTO {S}.upstream_versions (upstream, ecosystem, name, version) "
            "SELECT $1, $2, $3, unnest($4::text[]) ON CONFLICT DO NOTHING",
            upstream,
            ecosystem.value,
            name,
            undated,
        )
        rows = await conn.fetch(
            f"SELECT version, first_seen FROM {S}.upstream_versions WHERE upstream = $1 AND ecosystem = $2 "
            "AND name = $3 AND version = ANY($4::text[])",
            upstream,
            ecosystem.value,
            name,
            undated,
        )
        first_seen = {r["version"]: r["first_seen"] for r in rows}
    ages = {v: at if at is not None else first_seen.get(v, now) for v, at in uploaded.items()}
    hidden = quarantine_ends(ages, days, now)
    if hidden:
        # A version the team overrode is let through, however young.
        allowed = await conn.fetch(
            f"SELECT version FROM {S}.download_overrides WHERE team_id = $1::uuid AND ecosystem = $2 "
            "AND name = $3 AND version = ANY($4::text[]) AND allowed",
            team_id,
            ecosystem.value,
            name,
            sorted(hidden),
        )
        for row in allowed:
            hidden.pop(row["version"], None)
    return Quarantine(days, hidden)


def quarantine_message(name: str, version: str, until: datetime, days: int) -> str:
    return (
        f"{name} {version} is new upstream and quarantined by your team's supply-chain policy "
        f"({days} days) until {until.isoformat(timespec='seconds')}"
    )
