"""The teams' download policies (SupplyChainAgent): the policy, per-version overrides, the blocked
versions, and their announcement to the ArtifactManagerAgent.

The registry serves downloads and must not read this schema, nor ask this agent about every file it
serves: it keeps its own tables, fed by events. `sync` evaluates a team's policy against its open
findings, compares the result with what was last announced and publishes only the differences, each
with a revision from one sequence so the registry keeps the newest decision whatever order events
arrive in: the policy's part the registry applies itself (`download_policy_changed`: the quarantine,
and whether downloads are blocked at all; `download_policies.announced`), the overrides
(`download_override_changed`, which let a quarantined upstream version through; `announced_overrides`)
and the blocked versions (`version_block_changed`; `announced_blocks`). It runs after whatever can
change the answer: findings (a new SBOM of a published or an upstream version, an advisory import),
triage, the policy, an override; and every few minutes for every team with a policy, which repairs a
sync that failed after its cause was committed (a triage is never refused because the bus was away).

The versions evaluated are the team's own (SBOMs of source `artifact`: a finding in the version or in
a dependency it pins blocks it) and those its registry took from an upstream (source `upstream`: the
version itself). `verdict` answers for one version at once: what the registry asks before a team
whose policy blocks gets an upstream version it never had.
"""

from __future__ import annotations

from typing import Any

import structlog

from services.supply_chain.download_policy import (
    OPEN_STATUSES,
    Blocker,
    BlockKey,
    changes,
    group,
    normalise_ref,
    ratings_at_least,
)
from services.supply_chain.store import EFFECTIVE_TRIAGE
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.entitlements import SUPPLY_CHAIN, EntitledTeams
from shared.messages.artifacts import Ecosystem
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission
from shared.messages.registry import (
    DOWNLOAD_OVERRIDE_CHANGED,
    DOWNLOAD_POLICY_CHANGED,
    VERSION_BLOCK_CHANGED,
)
from shared.messages.supply_chain import SeverityRating
from shared.messages.supply_chain_policy import (
    BlockedList,
    BlockedQuery,
    BlockedVersion,
    BlockingFinding,
    DownloadOverrideChanged,
    DownloadPolicy,
    DownloadPolicyChanged,
    DownloadPolicyQuery,
    DownloadPolicySet,
    OverrideCreate,
    OverrideInfo,
    OverrideList,
    OverrideQuery,
    OverrideRef,
    UpstreamVerdict,
    VersionBlockChanged,
)
from shared.principals import require, team_with

log = structlog.get_logger("mno.supply_chain.policies")

# The triage each finding is judged by is the one that applies to its version (EFFECTIVE_TRIAGE): the
# version's own decision, else the team's.
_BLOCKING = f"""
SELECT s.subject_ecosystem AS ecosystem, s.subject_name AS name, s.subject_version AS version,
       f.id::text AS finding_id, f.advisory_id, f.severity_rating, f.display_name,
       f.version AS component_version, coalesce(t.status, 'under_investigation') AS status
FROM supply_chain.sboms s
JOIN supply_chain.findings f ON f.sbom_id = s.id AND f.retired_at IS NULL
{EFFECTIVE_TRIAGE}
WHERE s.team_id = $1::uuid AND s.source IN ('artifact', 'upstream') AND s.subject_version IS NOT NULL
  AND (f.severity_rating = ANY($2::text[]) OR ($4 AND f.severity_rating IS NULL))
  AND coalesce(t.status, 'under_investigation') = ANY($3::text[])
  AND ($5::text IS NULL OR (s.subject_ecosystem = $5 AND s.subject_name = $6 AND s.subject_version = $7))
  AND NOT EXISTS (
      SELECT 1 FROM supply_chain.download_overrides o
      WHERE o.team_id = s.team_id AND o.ecosystem = s.subject_ecosystem AND o.name = s.subject_name
        AND o.version = s.subject_version)
"""

# The policy as announced for a team whose plan lacks supply_chain: nothing quarantined or blocked.
_POLICY_OFF = {"quarantine_days": 0, "block_severity": "none", "block_unrated": False}

_OVERRIDE_COLUMNS = "id::text AS id, ecosystem, name, version, reason, created_by, created_at"


def _actor(principal: Principal) -> str:
    return principal.user_id or (f"apikey:{principal.api_key_id}" if principal.api_key_id else "unknown")


def _policy(row: Any) -> DownloadPolicy:
    if row is None:
        return DownloadPolicy(block_severity=SeverityRating.NONE, quarantine_days=0, block_unrated=False)
    return DownloadPolicy(
        block_severity=SeverityRating(row["block_severity"]),
        quarantine_days=row["quarantine_days"],
        block_unrated=row["block_unrated"],
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


def _announced_policy(row: Any) -> dict[str, Any]:
    """The part of a policy the registry is told of, as `download_policies.announced` keeps it."""
    return {
        "quarantine_days": row["quarantine_days"],
        "block_severity": row["block_severity"],
        "block_unrated": row["block_unrated"],
    }


def _override(row: Any) -> OverrideInfo:
    return OverrideInfo(
        id=row["id"],
        ecosystem=Ecosystem(row["ecosystem"]),
        name=row["name"],
        version=row["version"],
        reason=row["reason"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def _finding(blocker: Blocker) -> BlockingFinding:
    return BlockingFinding(
        finding_id=blocker.finding_id,
        advisory_id=blocker.advisory_id,
        severity=SeverityRating(blocker.severity) if blocker.severity is not None else None,
        package=blocker.package,
        triage_status=blocker.triage_status,
    )


def _blocker(data: dict[str, Any]) -> Blocker:
    return Blocker(
        data["finding_id"], data["advisory_id"], data["severity"], data["package"], data["triage_status"]
    )


class Policies:
    def __init__(self, pool: Any, bus: Bus, entitled: EntitledTeams | None = None) -> None:
        self._pool = pool
        self._bus = bus
        # Which teams' plans include supply_chain; None: every team's does.
        self._entitled = entitled

    # --- the policy ---------------------------------------------------------------------------------

    async def get(self, request: DownloadPolicyQuery, ctx: MessageContext) -> DownloadPolicy:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM supply_chain.download_policies WHERE team_id = $1::uuid", team_id
            )
        return _policy(row)

    async def set(self, request: DownloadPolicySet, ctx: MessageContext) -> DownloadPolicy:
        principal = require(ctx.principal, Permission.SUPPLY_CHAIN_POLICY)
        team_id = team_with(principal, Permission.SUPPLY_CHAIN_POLICY)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, team_id)
            row = await conn.fetchrow(
                "INSERT INTO supply_chain.download_policies (team_id, block_severity, quarantine_days, "
                "block_unrated, updated_by) VALUES ($1::uuid, $2, $3, coalesce($4, false), $5) "
                "ON CONFLICT (team_id) DO UPDATE SET "
                "block_severity = EXCLUDED.block_severity, quarantine_days = EXCLUDED.quarantine_days, "
                "block_unrated = coalesce($4, supply_chain.download_policies.block_unrated), "
                "updated_by = EXCLUDED.updated_by, updated_at = now() RETURNING *",
                team_id,
                request.block_severity.value,
                request.quarantine_days,
                request.block_unrated,
                _actor(principal),
            )
            # In the transaction: a policy the registry never hears of would be a policy in name only.
            await self._sync(conn, team_id, ctx)
        return _policy(row)

    # --- overrides ----------------------------------------------------------------------------------

    async def overrides(self, request: OverrideQuery, ctx: MessageContext) -> OverrideList:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_OVERRIDE_COLUMNS} FROM supply_chain.download_overrides WHERE team_id = $1::uuid "
                "ORDER BY created_at DESC, id",
                team_id,
            )
        return OverrideList(items=[_override(r) for r in rows])

    async def create_override(self, request: OverrideCreate, ctx: MessageContext) -> OverrideInfo:
        principal = require(ctx.principal, Permission.SUPPLY_CHAIN_POLICY)
        team_id = team_with(principal, Permission.SUPPLY_CHAIN_POLICY)
        name, version = normalise_ref(request.ecosystem.value, request.name, request.version)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, team_id)
            row = await conn.fetchrow(
                "INSERT INTO supply_chain.download_overrides (team_id, ecosystem, name, version, reason, "
                "created_by) VALUES ($1::uuid, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING "
                "RETURNING " + _OVERRIDE_COLUMNS,
                team_id,
                request.ecosystem.value,
                name,
                version,
                request.reason,
                _actor(principal),
            )
            if row is None:
                raise AgentError(
                    ErrorCode.CONFLICT,
                    f"{request.ecosystem.value}/{name} {version} already has an override",
                    [{"loc": "body", "type": "override_exists", "message": "already allowed"}],
                )
            await self._sync(conn, team_id, ctx)
        return _override(row)

    async def delete_override(self, request: OverrideRef, ctx: MessageContext) -> OverrideInfo:
        team_id = team_with(
            require(ctx.principal, Permission.SUPPLY_CHAIN_POLICY), Permission.SUPPLY_CHAIN_POLICY
        )
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, team_id)
            row = await conn.fetchrow(
                "DELETE FROM supply_chain.download_overrides WHERE team_id = $1::uuid AND id = $2::uuid "
                "RETURNING " + _OVERRIDE_COLUMNS,
                team_id,
                request.override_id,
            )
            if row is None:
                raise AgentError(ErrorCode.NOT_FOUND, "no such override in your team")
            await self._sync(conn, team_id, ctx)
        return _override(row)

    # --- blocked versions ---------------------------------------------------------------------------

    async def blocked(self, request: BlockedQuery, ctx: MessageContext) -> BlockedList:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            current = await self._evaluate(conn, team_id)
        return BlockedList(
            items=[
                BlockedVersion(
                    ecosystem=Ecosystem(key.ecosystem),
                    name=key.name,
                    version=key.version,
                    findings=[_finding(b) for b in blockers],
                )
                for key, blockers in sorted(current.items())
            ]
        )

    async def sync(self, team_id: str, ctx: MessageContext, *, entitled: bool = True) -> None:
        """Announce the team's changed blocks; a failure is logged, not raised: its cause is committed
        and the periodic pass (`sync_all`) announces it later. `entitled` False (the team's plan lacks
        supply_chain): the registry is told the policy is off and every block is released; the
        callers other than `sync_all` act for an entitled team (a gated route, an entitled SBOM)."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await self._lock(conn, team_id)
                await self._sync(conn, team_id, ctx, entitled=entitled)
        except Exception as error:  # any failure: the periodic pass retries it
            log.warning("download block sync failed", team_id=team_id, error=str(error))

    async def verdict(self, team_id: str, key: BlockKey) -> UpstreamVerdict:
        """Whether the team's policy blocks `key` now (findings, triage, overrides as they stand),
        whatever has been announced."""
        async with self._pool.acquire() as conn:
            current = await self._evaluate(conn, team_id, key)
        blockers = current.get(key)
        return UpstreamVerdict(blocked=bool(blockers), findings=[_finding(b) for b in blockers or ()])

    async def sync_all(self) -> None:
        ctx = MessageContext(principal=Principal.system())
        async with self._pool.acquire() as conn:
            teams = await conn.fetch(
                "SELECT team_id::text AS t FROM supply_chain.download_policies UNION "
                "SELECT DISTINCT team_id::text FROM supply_chain.announced_blocks UNION "
                "SELECT DISTINCT team_id::text FROM supply_chain.announced_overrides"
            )
        team_ids = [row["t"] for row in teams]
        # Plans change without telling this agent: a team that lost supply_chain has its blocks
        # released here, one that regained it has them back. The SuperAgent not answering fails
        # the pass (nobody's blocks move on a guess); the next one asks again.
        entitled = set(team_ids)
        if self._entitled is not None:
            entitled = await self._entitled.among(team_ids, SUPPLY_CHAIN)
        for team_id in team_ids:
            await self.sync(team_id, ctx, entitled=team_id in entitled)

    async def _lock(self, conn: Connection, team_id: str) -> None:
        # One evaluation and announcement per team at a time: two would both announce the same diff.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 16))", f"downloads:{team_id}")

    async def _evaluate(
        self, conn: Connection, team_id: str, key: BlockKey | None = None
    ) -> dict[BlockKey, tuple[Blocker, ...]]:
        """The team's blocked versions now (only `key`'s, when given)."""
        policy = await conn.fetchrow(
            "SELECT block_severity, block_unrated FROM supply_chain.download_policies "
            "WHERE team_id = $1::uuid",
            team_id,
        )
        ratings = ratings_at_least(policy["block_severity"] if policy is not None else "none")
        if not ratings:
            return {}
        rows = await conn.fetch(
            _BLOCKING,
            team_id,
            ratings,
            list(OPEN_STATUSES),
            policy["block_unrated"],
            key.ecosystem if key is not None else None,
            key.name if key is not None else None,
            key.version if key is not None else None,
        )
        return group(
            (
                BlockKey(r["ecosystem"], r["name"], r["version"]),
                Blocker(
                    r["finding_id"],
                    r["advisory_id"],
                    r["severity_rating"],
                    f"{r['display_name']}@{r['component_version']}",
                    r["status"],
                ),
            )
            for r in rows
        )

    async def _next_revision(self, conn: Connection) -> int:
        revision: int = await conn.fetchval("SELECT nextval('supply_chain.download_block_revisions')")
        return revision

    async def _sync_policy(
        self, conn: Connection, team_id: str, ctx: MessageContext, *, entitled: bool
    ) -> None:
        """The policy's part the registry applies, when it differs from what it was last told; the
        policy off for a team whose plan lacks supply_chain (no quarantine, no block)."""
        held = await conn.fetchrow(
            "SELECT quarantine_days, block_severity, block_unrated, announced "
            "FROM supply_chain.download_policies WHERE team_id = $1::uuid",
            team_id,
        )
        row = held if held is None or entitled else {**dict(held), **_POLICY_OFF}
        if row is None or row["announced"] == _announced_policy(row):
            return
        revision = await self._next_revision(conn)
        await self._bus.publish(
            DOWNLOAD_POLICY_CHANGED,
            DownloadPolicyChanged(
                team_id=team_id,
                quarantine_days=row["quarantine_days"],
                block_severity=SeverityRating(row["block_severity"]),
                block_unrated=row["block_unrated"],
                revision=revision,
            ),
            ctx,
            message_id=f"download-policy:{team_id}:{revision}",
        )
        await conn.execute(
            "UPDATE supply_chain.download_policies SET announced = $2::jsonb WHERE team_id = $1::uuid",
            team_id,
            _announced_policy(row),
        )

    async def _sync_overrides(self, conn: Connection, team_id: str, ctx: MessageContext) -> None:
        """Overrides created or withdrawn since the registry was last told (it lets an overridden
        upstream version through the quarantine)."""
        rows = await conn.fetch(
            "SELECT ecosystem, name, version, true AS current FROM supply_chain.download_overrides "
            "WHERE team_id = $1::uuid UNION ALL "
            "SELECT ecosystem, name, version, false FROM supply_chain.announced_overrides "
            "WHERE team_id = $1::uuid",
            team_id,
        )
        current = {BlockKey(r["ecosystem"], r["name"], r["version"]) for r in rows if r["current"]}
        announced = {BlockKey(r["ecosystem"], r["name"], r["version"]) for r in rows if not r["current"]}
        for key in sorted(current ^ announced):
            allowed = key in current
            revision = await self._next_revision(conn)
            await self._bus.publish(
                DOWNLOAD_OVERRIDE_CHANGED,
                DownloadOverrideChanged(
                    team_id=team_id,
                    ecosystem=Ecosystem(key.ecosystem),
                    name=key.name,
                    version=key.version,
                    allowed=allowed,
                    revision=revision,
                ),
                ctx,
                message_id=f"download-override:{team_id}:{revision}",
            )
            statement = (
                "INSERT INTO supply_chain.announced_overrides (team_id, ecosystem, name, version) "
                "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT DO NOTHING"
                if allowed
                else "DELETE FROM supply_chain.announced_overrides WHERE team_id = $1::uuid "
                "AND ecosystem = $2 AND name = $3 AND version = $4"
            )
            await conn.execute(statement, team_id, key.ecosystem, key.name, key.version)

    async def _sync(
        self, conn: Connection, team_id: str, ctx: MessageContext, *, entitled: bool = True
    ) -> None:
        await self._sync_policy(conn, team_id, ctx, entitled=entitled)
        await self._sync_overrides(conn, team_id, ctx)
        current = await self._evaluate(conn, team_id) if entitled else {}
        rows = await conn.fetch(
            "SELECT ecosystem, name, version, findings FROM supply_chain.announced_blocks "
            "WHERE team_id = $1::uuid",
            team_id,
        )
        announced = {
            BlockKey(r["ecosystem"], r["name"], r["version"]): tuple(_blocker(d) for d in r["findings"])
            for r in rows
        }
        for key, blockers in changes(announced, current):
            revision = await self._next_revision(conn)
            findings = [_finding(b) for b in blockers or ()]
            await self._bus.publish(
                VERSION_BLOCK_CHANGED,
                VersionBlockChanged(
                    team_id=team_id,
                    ecosystem=Ecosystem(key.ecosystem),
                    name=key.name,
                    version=key.version,
                    blocked=blockers is not None,
                    findings=findings,
                    revision=revision,
                ),
                ctx,
                message_id=f"download-block:{team_id}:{revision}",
            )
            if blockers is None:
                await conn.execute(
                    "DELETE FROM supply_chain.announced_blocks WHERE team_id = $1::uuid AND ecosystem = $2 "
                    "AND name = $3 AND version = $4",
                    team_id,
                    key.ecosystem,
                    key.name,
                    key.version,
                )
            else:
                await conn.execute(
                    "INSERT INTO supply_chain.announced_blocks (team_id, ecosystem, name, version, "
                    "findings) VALUES ($1::uuid, $2, $3, $4, $5::jsonb) "
                    "ON CONFLICT (team_id, ecosystem, name, version) "
                    "DO UPDATE SET findings = EXCLUDED.findings",
                    team_id,
                    key.ecosystem,
                    key.name,
                    key.version,
                    [f.model_dump(mode="json") for f in findings],
                )
            log.info(
                "download block announced",
                team_id=team_id,
                package=f"{key.ecosystem}/{key.name}",
                version=key.version,
                blocked=blockers is not None,
            )
