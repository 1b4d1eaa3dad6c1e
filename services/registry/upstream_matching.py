"""Upstream versions under the teams' download policies, as the ArtifactManagerAgent plays its part.

The SupplyChainAgent owns advisories, findings, triage and policies; this agent serves the files. A
version a team takes from its upstream reaches the SupplyChainAgent in one of two ways, both naming
the version and the first file of it the team got (`UpstreamVersion`):

- `upstream_version_fetched`, an event written to the outbox in the transaction that records the
  team's first row of the file (`upstream_files`), so every version a team holds is matched, with or
  without a policy, and re-matched there whenever advisories change (an SBOM of one component);
  rows cached before this existed are announced by `announce_pending` (the `upstream-announce` job);
- `upstream_version`, a request asked before a download when the team's policy blocks downloads
  (`download_policies.block_severity`, announced by the SupplyChainAgent) and the team never had the
  version: the SupplyChainAgent stores the SBOM and its findings (so the refusal names findings the
  team can triage) and answers whether the policy blocks the version now. Without that, the first
  `pip install` of a vulnerable version would pass while the event travels. A SupplyChainAgent that
  does not answer fails such a first download (503): a team that blocks downloads gets no version
  nobody checked. Every other download checks only the local table of blocks (`blocked_versions`).

Blocks and releases come back as for a team's own versions (`version_block_changed`, applied by
`download_policy.DownloadPolicyConsumer`, which then sends `registry_changed`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import structlog

from services.registry.download_policy import BlockedByPolicy, blocked_message
from services.registry.errors import RegistryError
from shared.bus.client import Bus, OutgoingEvent
from shared.bus.context import MessageContext
from shared.bus.errors import BusError
from shared.db.inbox import Connection
from shared.db.outbox import Outbox
from shared.messages.artifacts import Ecosystem, UpstreamVersion
from shared.messages.envelope import Principal
from shared.messages.registry import SC_UPSTREAM_VERSION, UPSTREAM_VERSION_FETCHED

__all__ = ["PolicyUnavailable", "UpstreamMatching", "fetched_event_id"]

log = structlog.get_logger("mno.registry.upstream_matching")

S = "artifact_manager"
# Rows of `upstream_files` announced per transaction by the job.
_ANNOUNCE_BATCH = 200


class PolicyUnavailable(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("policy_unavailable", message)


def fetched_event_id(version: UpstreamVersion) -> str:
    """The event's id: one per team and upstream file (another file of the version is another event;
    the SupplyChainAgent keeps one SBOM per version)."""
    identity = "\n".join(
        (version.team_id, version.ecosystem.value, version.upstream, version.name, version.filename)
    )
    return "upstream-fetched-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def _system(ctx: MessageContext | None) -> MessageContext:
    """The context for asking the SupplyChainAgent: the system principal (the request names its team),
    in the trace of the download that asks."""
    if ctx is None:
        return MessageContext(principal=Principal.system())
    return MessageContext(
        correlation_id=ctx.correlation_id, trace=ctx.trace.child(), principal=Principal.system()
    )


class UpstreamMatching:
    def __init__(self, pool: Any, bus: Bus, outbox: Outbox) -> None:
        self._pool = pool
        self._bus = bus
        self._outbox = outbox

    async def check(self, conn: Connection, version: UpstreamVersion, ctx: MessageContext | None) -> None:
        """Refuses the download (`BlockedByPolicy`, naming the findings) when the team's policy blocks
        the version: as announced, or, for a version the team never took while its policy blocks, as
        the SupplyChainAgent answers now (`PolicyUnavailable` when it cannot)."""
        row = await conn.fetchrow(
            f"""
            SELECT (SELECT findings FROM {S}.blocked_versions WHERE team_id = $1::uuid AND ecosystem = $2
                    AND name = $3 AND version = $4 AND blocked) AS blocked,
                   (SELECT block_severity FROM {S}.download_policies WHERE team_id = $1::uuid) AS severity,
                   EXISTS (SELECT 1 FROM {S}.upstream_files WHERE team_id = $1::uuid AND ecosystem = $2
                           AND upstream = $5 AND name = $3 AND version = $4 AND announced) AS known
            """,
            version.team_id,
            version.ecosystem.value,
            version.name,
            version.version,
            version.upstream,
        )
        if row["blocked"] is not None:
            findings = row["blocked"]
            findings = json.loads(findings) if isinstance(findings, str) else findings
            raise BlockedByPolicy(blocked_message(version.name, version.version, list(findings)))
        if row["severity"] in (None, "none") or row["known"]:
            return
        try:
            verdict = await self._bus.request(SC_UPSTREAM_VERSION, version, _system(ctx))
        except BusError as error:
            log.warning(
                "upstream version not checked",
                package=f"{version.ecosystem.value}/{version.name}",
                version=version.version,
                error=repr(error),
            )
            raise PolicyUnavailable(
                f"{version.name} {version.version} could not be checked against your team's "
                "supply-chain policy now; try again"
            ) from None
        if verdict.blocked:
            raise BlockedByPolicy(
                blocked_message(
                    version.name, version.version, [f.model_dump(mode="json") for f in verdict.findings]
                )
            )

    async def recorded(
        self, conn: Connection, version: UpstreamVersion, ctx: MessageContext
    ) -> OutgoingEvent:
        """In the transaction that recorded the team's first row of the file: the event that has the
        version matched, into the outbox (the caller sends it after the commit)."""
        outgoing = self._bus.encode_event(
            UPSTREAM_VERSION_FETCHED, version, ctx, message_id=fetched_event_id(version)
        )
        await self._outbox.add(conn, outgoing, team_id=version.team_id)
        return outgoing

    def send_soon(self, outgoing: OutgoingEvent) -> None:
        self._outbox.send_soon(outgoing)

    async def announce_pending(self) -> int:
        """Announces the upstream files recorded before versions were matched (rows not `announced`),
        a batch per transaction; returns how many. Replicas share the rows (SKIP LOCKED)."""
        ctx = MessageContext(principal=Principal.system())
        total = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    f"""
                    WITH picked AS (
                        SELECT team_id, ecosystem, upstream, name, filename FROM {S}.upstream_files
                        WHERE NOT announced ORDER BY cached_at LIMIT $1 FOR UPDATE SKIP LOCKED
                    )
                    UPDATE {S}.upstream_files u SET announced = true FROM picked
                    WHERE u.team_id = picked.team_id AND u.ecosystem = picked.ecosystem
                      AND u.upstream = picked.upstream AND u.name = picked.name
                      AND u.filename = picked.filename
                    RETURNING u.team_id::text AS team_id, u.ecosystem, u.upstream, u.name, u.version,
                              u.filename, u.sha256
                    """,
                    _ANNOUNCE_BATCH,
                )
                sent = [
                    await self.recorded(
                        conn,
                        UpstreamVersion(
                            team_id=r["team_id"],
                            ecosystem=Ecosystem(r["ecosystem"]),
                            upstream=r["upstream"],
                            name=r["name"],
                            version=r["version"],
                            filename=r["filename"],
                            sha256=r["sha256"],
                        ),
                        ctx,
                    )
                    for r in rows
                    if r["version"]
                ]
            for outgoing in sent:
                self._outbox.send_soon(outgoing)
            total += len(rows)
            if len(rows) < _ANNOUNCE_BATCH:
                break
        if total:
            log.info("upstream files announced for matching", files=total)
        return total
