"""The SupplyChainAgent's endpoints and its consumers of `artifact_published` and
`upstream_version_fetched`: scans of uploaded documents, of published versions and of versions the
teams' registries take from their upstreams, SBOM and VEX downloads, triage, advisory imports with
their re-scans, and attestations.

Bytes move through the blob store (the edge streams uploads in and downloads out): NATS carries at
most 1 MB. Generated documents are written there by content digest; the rows keep the digests.
Parsing, document generation and matching are pure (`scanning`, `sbom`, `attestations`); this
module does the I/O around them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from services.supply_chain import advisory_store, attestations, deferred, product_triage, store
from services.supply_chain.advisory_store import LiveIndex
from services.supply_chain.attestations import InvalidAttestation
from services.supply_chain.deferred import Deferred
from services.supply_chain.download_policy import BlockKey
from services.supply_chain.lockfiles.model import LockfileError, LockfileResult
from services.supply_chain.osv import InvalidAdvisory, read
from services.supply_chain.policies import Policies
from services.supply_chain.purls import InvalidPurl
from services.supply_chain.sbom.cyclonedx import to_cyclonedx
from services.supply_chain.sbom.graph import (
    ArtifactVersion,
    ComponentGraph,
    DeclaredDependency,
    DependencyKind,
    SbomError,
    from_artifact,
)
from services.supply_chain.sbom.spdx import to_spdx
from services.supply_chain.scanning import (
    FoundVulnerability,
    ReadDocument,
    ScannedComponent,
    graph_from_json,
    graph_to_json,
    match,
    read_document,
    scannable,
)
from services.supply_chain.severity import InvalidVector
from services.supply_chain.shrinkwrap import locked_dependencies
from services.supply_chain.signing import Keyring
from services.supply_chain.sources import ArchiveRefused, osv_files
from services.supply_chain.triage import (
    SYSTEM_ACTOR,
    Decision,
    FindingKey,
    InvalidTriage,
    Status,
    Transition,
    TriageRecord,
    decide,
    open_record,
    to_cyclonedx_vex,
    to_openvex,
)
from shared.archives import DEFAULT_LIMITS, ArchiveLimits
from shared.blobstore import BlobNotFound, BlobStore
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.bus.events import Delivery
from shared.db.inbox import Connection, claim
from shared.entitlements import SUPPLY_CHAIN, EntitledTeams
from shared.messages.artifacts import ArtifactPublished, Ecosystem, StoredVersionsQuery, UpstreamVersion
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission
from shared.messages.registry import ARTIFACT_STORED_VERSIONS, FINDINGS_CHANGED
from shared.messages.supply_chain import (
    AdvisoryImportInfo,
    AdvisoryImportRequest,
    AdvisoryStatus,
    AdvisoryStatusQuery,
    AttestationInfo,
    AttestationList,
    AttestationRef,
    DocumentLocation,
    FindingDetail,
    FindingInfo,
    FindingList,
    FindingRef,
    FindingsChanged,
    ListAttestations,
    ListFindings,
    ListSboms,
    ProductScope,
    PublicKey,
    PublicKeys,
    PublicKeysQuery,
    SbomDocumentRequest,
    SbomInfo,
    SbomList,
    SbomRef,
    ScanDocument,
    ScanResult,
    Severity,
    SkippedEntry,
    TriageInfo,
    TriageRequest,
    TriageTransition,
    TriageWithdrawal,
    TriageWithdrawRequest,
    Verification,
    VerifyEnvelope,
    VexRequest,
)
from shared.messages.supply_chain_policy import UpstreamVerdict
from shared.principals import require, team_with
from shared.refusals import Refusal

log = structlog.get_logger("mno.supply_chain")

SCHEMA = "supply_chain"
CONSUMER = "artifact-published"
UPSTREAM_CONSUMER = "upstream-version-fetched"
IMPORT_BATCH = 500
# Versions asked of the ArtifactManagerAgent per request by the SBOM backfill.
BACKFILL_PAGE = 200
# SBOMs re-scanned at once after an import (each its own transaction and pool connection).
RESCAN_CONCURRENCY = 4
# A published tarball is spooled to disk past this while its shrinkwrap is looked for.
SPOOL_BYTES = 8 * 1024 * 1024
SCANNER_URI = "https://github.com/MachineNativeOps/machine-native-ops"
JSON = "application/json"

# The pure layers' refusals, as typed errors: (code, detail type).
_REFUSALS: dict[type[Exception], tuple[ErrorCode, str]] = {
    SbomError: (ErrorCode.VALIDATION_FAILED, "invalid_sbom"),
    LockfileError: (ErrorCode.VALIDATION_FAILED, "invalid_lockfile"),
    InvalidPurl: (ErrorCode.VALIDATION_FAILED, "invalid_purl"),
    InvalidVector: (ErrorCode.VALIDATION_FAILED, "invalid_vector"),
    InvalidTriage: (ErrorCode.VALIDATION_FAILED, "invalid_triage"),
    InvalidAttestation: (ErrorCode.VALIDATION_FAILED, "invalid_attestation"),
    InvalidAdvisory: (ErrorCode.VALIDATION_FAILED, "invalid_advisory"),
}

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


def refusal(error: Exception) -> AgentError | None:
    for kind, (code, detail) in _REFUSALS.items():
        if isinstance(error, kind):
            return AgentError(
                code, str(error)[:2000], [{"loc": "document", "type": detail, "message": str(error)[:2000]}]
            )
    return None


def answers(
    handler: Callable[[T, MessageContext], Awaitable[R]],
) -> Callable[[T, MessageContext], Awaitable[R]]:
    """A handler whose refusals of bad documents, vectors, purls and decisions leave as 4xx."""

    async def handle(request: T, ctx: MessageContext) -> R:
        try:
            return await handler(request, ctx)
        except Exception as error:
            typed = refusal(error)
            if typed is None:
                raise
            raise typed from None

    return handle


def _not_found(what: str) -> AgentError:
    return AgentError(ErrorCode.NOT_FOUND, f"no such {what} in your team")


@dataclass(frozen=True)
class Limits:
    max_document_bytes: int
    max_archive_bytes: int
    published_archive: ArchiveLimits = DEFAULT_LIMITS
    """The registry's bounds on a published archive (`registry.archive_limits`): an npm tarball is
    read for its shrinkwrap within what the registry accepted it under."""


@dataclass(frozen=True)
class Stored:
    sbom_id: str
    changes: store.Changes
    found: list[FoundVulnerability]


class SupplyChain:
    def __init__(
        self, pool: Any, blobs: BlobStore, bus: Bus, keyring: Keyring, limits: Limits, tool_version: str
    ) -> None:
        self._pool = pool
        self._blobs = blobs
        self._bus = bus
        self._keyring = keyring
        self._limits = limits
        self._tool_version = tool_version
        self.live = LiveIndex()
        self._import_lock = asyncio.Lock()
        # The download policies, told when findings or their triage change (set by the agent).
        self.policies: Policies | None = None
        # Which teams' plans include supply_chain (set by the agent; None: every team's does).
        self.entitled: EntitledTeams | None = None

    async def refresh(self) -> None:
        async with self._pool.acquire() as conn:
            await self.live.refresh(conn)

    # --- scans -----------------------------------------------------------------------------------

    async def scan(self, request: ScanDocument, ctx: MessageContext) -> ScanResult:
        # Storing (and signing) is a write; a scan that keeps nothing is a read (CI keys).
        needed = Permission.SUPPLY_CHAIN_WRITE if request.store else Permission.SUPPLY_CHAIN_READ
        team_id = team_with(ctx.principal, needed)
        content = await self._read_blob(request.blob.sha256, self._limits.max_document_bytes, "document")
        document = await asyncio.to_thread(read_document, request.filename, content)
        await self.refresh()
        skipped = [SkippedEntry(where=s.where, reason=s.reason) for s in document.skipped]
        if not request.store:
            found = match(self.live.index, scannable(document.graph))
            return ScanResult(
                sbom=None,
                input_format=document.input_format,
                components=len(document.graph.components),
                findings=[_finding_of_scan(f, None) for f in _ordered(found)],
                skipped=skipped,
                advisories=len(self.live.index),
            )
        subjects = [attestations.subject(request.filename, content)]
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await self._store_sbom(
                conn,
                team_id,
                document,
                subject=(None, document.graph.root.name, document.graph.root.version),
                document_name=request.filename,
                subjects=subjects,
                event_id=None,
            )
            info = await self._sbom_info(conn, team_id, stored.sbom_id)
            findings = await self._findings(conn, team_id, ListFindings(sbom_id=stored.sbom_id, limit=500))
        await self._announce({team_id: (stored.changes, [stored.sbom_id])}, "sbom_scanned", ctx)
        return ScanResult(
            sbom=info,
            input_format=document.input_format,
            components=len(document.graph.components),
            findings=findings.items,
            skipped=skipped,
            advisories=len(self.live.index),
        )

    async def _store_sbom(
        self,
        conn: Connection,
        team_id: str,
        document: ReadDocument,
        *,
        subject: tuple[str | None, str, str | None],
        document_name: str | None,
        subjects: list[dict[str, Any]],
        event_id: str | None,
        source: str | None = None,
    ) -> Stored:
        at = datetime.now(UTC).replace(microsecond=0)
        graph = document.graph
        cyclonedx, spdx = await asyncio.to_thread(self._documents, graph, at)
        cdx_ref = await self._put(cyclonedx)
        spdx_ref = await self._put(spdx)
        components = scannable(graph)
        found = match(self.live.index, components)
        sbom_id = await conn.fetchval(
            "INSERT INTO supply_chain.sboms (team_id, source, subject_ecosystem, subject_name, "
            "subject_version, "
            "document_name, input_format, graph, component_count, created, tool_version, cyclonedx_sha256, "
            "cyclonedx_size, spdx_sha256, spdx_size, event_id) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, "
            "$9, "
            "$10, $11, $12, $13, $14, $15, $16) RETURNING id::text",
            team_id,
            source or document.source,
            subject[0],
            subject[1],
            subject[2],
            document_name,
            document.input_format,
            graph_to_json(graph),
            len(graph.components),
            at,
            self._tool_version,
            cdx_ref[0],
            cdx_ref[1],
            spdx_ref[0],
            spdx_ref[1],
            event_id,
        )
        await store.insert_components(conn, team_id, sbom_id, components)
        changes = await store.reconcile_findings(conn, team_id, sbom_id, found, at=at)
        # The SBOM signed in both of its forms (each the document its download serves), then its scan.
        await self._attest(
            conn, team_id, sbom_id, "sbom", subjects, attestations.CYCLONEDX_PREDICATE, json.loads(cyclonedx)
        )
        await self._attest(
            conn, team_id, sbom_id, "sbom", subjects, attestations.SPDX_PREDICATE, json.loads(spdx)
        )
        await self._attest(
            conn, team_id, sbom_id, "scan", subjects, attestations.VULNS_PREDICATE, self._vulns(found, at)
        )
        return Stored(sbom_id, changes, found)

    def _documents(self, graph: ComponentGraph, at: datetime) -> tuple[bytes, bytes]:
        return (
            to_cyclonedx(graph, created=at, tool_version=self._tool_version).encode(),
            to_spdx(graph, created=at, tool_version=self._tool_version).encode(),
        )

    def _vulns(self, found: list[FoundVulnerability], at: datetime) -> dict[str, Any]:
        """The in-toto vulns predicate (v0.2) of a scan's result."""
        return self._vulns_predicate(
            [
                _vuln_entry(
                    f.advisory_id, f.aliases, f.component.purl, f.method, f.vector, f.rating, f.fixed_versions
                )
                for f in _ordered(found)
            ],
            at,
        )

    def _vulns_predicate(self, result: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
        latest = self.live.latest_modified
        return {
            "scanner": {
                "uri": SCANNER_URI,
                "version": self._tool_version,
                "db": {"uri": "osv", "version": latest.isoformat() if latest else None},
                "result": result,
            },
            "metadata": {"scanStartedOn": at.isoformat(), "scanFinishedOn": datetime.now(UTC).isoformat()},
        }

    async def _attest_rescan(self, conn: Connection, team_id: str, sbom_id: str, at: datetime) -> bool:
        """A re-scan changed the SBOM's findings: sign its whole current result (every open finding,
        not only the re-examined packages') for the subject its SBOM attestation names. False when the
        SBOM has no attestation to take the subject from."""
        subject = await conn.fetchrow(
            "SELECT subject_name, subject_sha256 FROM supply_chain.attestations "
            "WHERE team_id = $1::uuid AND sbom_id = $2::uuid AND kind = 'sbom' "
            "ORDER BY created_at DESC LIMIT 1",
            team_id,
            sbom_id,
        )
        if subject is None:
            return False
        rows = await conn.fetch(
            "SELECT advisory_id, aliases, purl, severity_rating, severity_score, severity_method, "
            "severity_vector, fixed_versions FROM supply_chain.findings WHERE team_id = $1::uuid "
            "AND sbom_id = $2::uuid AND retired_at IS NULL",
            team_id,
            sbom_id,
        )
        result = [
            _vuln_entry(
                r["advisory_id"],
                r["aliases"],
                r["purl"],
                r["severity_method"],
                r["severity_vector"],
                r["severity_rating"],
                r["fixed_versions"],
            )
            for r in sorted(rows, key=_severity_order)
        ]
        subjects = [{"name": subject["subject_name"], "digest": {"sha256": subject["subject_sha256"]}}]
        await self._attest(
            conn,
            team_id,
            sbom_id,
            "scan",
            subjects,
            attestations.VULNS_PREDICATE,
            self._vulns_predicate(result, at),
        )
        return True

    async def _attest(
        self,
        conn: Connection,
        team_id: str,
        sbom_id: str,
        kind: str,
        subjects: list[dict[str, Any]],
        predicate_type: str,
        predicate: Any,
    ) -> str:
        statement = attestations.statement(subjects, predicate_type, predicate)
        envelope = attestations.sign(statement, self._keyring.signer)
        sha256, size = await self._put(json.dumps(envelope, sort_keys=True).encode())
        attestation_id: str = await conn.fetchval(
            "INSERT INTO supply_chain.attestations (team_id, sbom_id, kind, predicate_type, subject_name, "
            "subject_sha256, key_id, envelope, envelope_sha256, envelope_size) VALUES ($1::uuid, $2::uuid, "
            "$3, $4, "
            "$5, $6, $7, $8, $9, $10) RETURNING id::text",
            team_id,
            sbom_id,
            kind,
            predicate_type,
            subjects[0]["name"],
            subjects[0]["digest"]["sha256"],
            self._keyring.key_id,
            envelope,
            sha256,
            size,
        )
        return attestation_id

    async def _put(self, content: bytes) -> tuple[str, int]:
        async def chunks() -> AsyncIterator[bytes]:
            yield content

        ref = await self._blobs.put(chunks())
        return ref.sha256, ref.size

    async def _read_blob(self, sha256: str, limit: int, what: str) -> bytes:
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in self._blobs.open(sha256):
                size += len(chunk)
                if size > limit:
                    raise AgentError(ErrorCode.PAYLOAD_TOO_LARGE, f"the {what} is larger than {limit} bytes")
                parts.append(chunk)
        except BlobNotFound:
            raise AgentError(ErrorCode.NOT_FOUND, f"the uploaded {what} is not in the blob store") from None
        return b"".join(parts)

    async def _announce(
        self, by_team: dict[str, tuple[store.Changes, list[str]]], cause: str, ctx: MessageContext
    ) -> None:
        for team_id, (changes, sbom_ids) in by_team.items():
            if not changes:
                continue
            if self.policies is not None:
                await self.policies.sync(team_id, ctx)
            payload = FindingsChanged(
                team_id=team_id,
                cause=cause,
                sbom_ids=sorted(sbom_ids)[:1000],
                new=changes.new,
                updated=changes.updated,
                retired=changes.retired,
                highest_rating=changes.highest(),
                advisory_ids=sorted(changes.advisories)[:100],
                unrated=changes.unrated,
            )
            digest = hashlib.sha256(payload.model_dump_json().encode()).hexdigest()
            await self._bus.publish(FINDINGS_CHANGED, payload, ctx, message_id=f"findings:{team_id}:{digest}")

    # --- the registry's published versions --------------------------------------------------------

    async def on_artifact_published(
        self, event: ArtifactPublished, ctx: MessageContext, delivery: Delivery
    ) -> bool:
        """An SBOM of the version from its declared dependencies, scanned, stored and signed; once per
        event (the inbox), and once per version (another file of it replaces the SBOM only when its
        dependencies differ). A team whose plan lacks supply_chain gets none: the version waits for
        its plan (`deferred`)."""
        item = _deferred_artifact(event)
        if not await self._entitled_or_deferred(item):
            return True
        return await self._sbom_of_version(event, ctx, delivery.message_id, item)

    async def backfill(self, page_size: int = BACKFILL_PAGE) -> int:
        """SBOMs of the registry's stored versions that have none (versions stored before this consumer
        existed), asked of the ArtifactManagerAgent page by page; returns how many were made.

        Idempotent: a version with an SBOM is skipped, and each is claimed in the inbox under an id of
        its own (`backfill:` + the version) in the transaction that stores it, so replicas starting at
        once, or a publish event handled meanwhile, make one SBOM per version."""
        ctx = MessageContext(principal=Principal.system())
        made, after = 0, 0
        while True:
            page = await self._bus.request(
                ARTIFACT_STORED_VERSIONS, StoredVersionsQuery(after=after, limit=page_size), ctx
            )
            missing = await self._without_sbom(page.items)
            # Asked per page; the SuperAgent not answering fails the pass, which runs again.
            entitled = await self._entitled({event.team_id for event in missing})
            for event in missing:
                item = _deferred_artifact(event)
                if event.team_id not in entitled:
                    await self._defer(item)
                    continue
                made += await self._sbom_of_version(event, ctx, _backfill_id(event), item)
            if page.next_after is None:
                break
            after = page.next_after
        if made:
            log.info("sbom backfill made sboms", sboms=made)
        return made

    # --- plans: only teams whose plan includes supply_chain get SBOMs, alerts and blocks -----------

    async def _entitled(self, team_ids: Iterable[str]) -> set[str]:
        """The teams among these whose plan includes supply_chain; a bus error propagates."""
        wanted = set(team_ids)
        if self.entitled is None or not wanted:
            return wanted
        return await self.entitled.among(wanted, SUPPLY_CHAIN)

    async def _entitled_or_deferred(self, item: Deferred) -> bool:
        """Whether the version's team is entitled now; if not, or if its plan cannot be told (the
        SuperAgent away), the version is deferred: the catch-up job makes its SBOM once it is."""
        try:
            if item.team_id in await self._entitled([item.team_id]):
                return True
        except Exception as error:  # the bus or the SuperAgent: decided later, never on a guess
            log.warning("plan unknown: version deferred", team_id=item.team_id, error=str(error)[:300])
        await self._defer(item)
        return False

    async def _defer(self, item: Deferred) -> None:
        async with self._pool.acquire() as conn:
            await deferred.defer(conn, item)
        log.info(
            "version deferred until the team's plan includes supply_chain",
            team_id=item.team_id,
            source=item.source,
            package=f"{item.ecosystem}/{item.name}",
            version=item.version,
        )

    async def _of_entitled(
        self, by_team: dict[str, tuple[store.Changes, list[str]]]
    ) -> dict[str, tuple[store.Changes, list[str]]]:
        """The changes of entitled teams only. A re-scan keeps every team's stored findings current
        (a team regaining the feature finds them right), but alerts and blocks are for entitled teams;
        when their plans cannot be told nothing is announced (the periodic sync repairs the blocks)."""
        changed = {team_id: held for team_id, held in by_team.items() if held[0]}
        try:
            entitled = await self._entitled(changed)
        except Exception as error:  # the bus or the SuperAgent
            log.warning("findings changes not announced: plans unknown", teams=len(changed), error=str(error))
            return {}
        return {team_id: held for team_id, held in changed.items() if team_id in entitled}

    async def catch_up(self) -> int:
        """SBOMs of the deferred versions of teams whose plan now includes supply_chain (a plan that
        gained the feature); returns how many were made. Asks the SuperAgent only while some version
        waits; its error fails the run, which comes again."""
        async with self._pool.acquire() as conn:
            waiting = await deferred.waiting_teams(conn)
        if not waiting:
            return 0
        ctx = MessageContext(principal=Principal.system())
        made = 0
        for team_id in sorted(await self._entitled(waiting)):
            async with self._pool.acquire() as conn:
                items = await deferred.of_team(conn, team_id)
            for item in items:
                # Each forgotten in the transaction that stores its SBOM: never lost.
                if item.source == "artifact":
                    event = ArtifactPublished.model_validate(item.event)
                    made += await self._sbom_of_version(event, ctx, _backfill_id(event), item)
                else:
                    version = UpstreamVersion.model_validate(item.event)
                    await self._sbom_of_upstream(version, ctx, None, item)
                    made += 1
            log.info("deferred versions caught up: the team's plan includes supply_chain", team_id=team_id)
        return made

    async def _without_sbom(self, versions: list[ArtifactPublished]) -> list[ArtifactPublished]:
        if not versions:
            return []
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT t.n FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY "
                "AS t(team_id, ecosystem, name, version, n) WHERE NOT EXISTS (SELECT 1 FROM "
                "supply_chain.sboms s WHERE s.team_id = t.team_id AND s.source = 'artifact' AND "
                "s.subject_ecosystem = t.ecosystem AND s.subject_name = t.name AND s.subject_version = "
                "t.version)",
                [v.team_id for v in versions],
                [v.ecosystem.value for v in versions],
                [v.name for v in versions],
                [v.version for v in versions],
            )
        return [versions[r["n"] - 1] for r in rows]

    async def _sbom_of_version(
        self,
        event: ArtifactPublished,
        ctx: MessageContext,
        message_id: str,
        caught_up: Deferred | None = None,
    ) -> bool:
        artifact = ArtifactVersion(
            ecosystem=event.ecosystem.value,
            name=event.name,
            version=event.version,
            dependencies=tuple(
                DeclaredDependency(d.name, d.requirement, DependencyKind(d.kind.value))
                for d in event.dependencies
            ),
            files=((event.file.filename, event.file.sha256),),
        )
        locked = await self._shrinkwrap(event) if event.ecosystem is Ecosystem.NPM else None
        graph = await asyncio.to_thread(from_artifact, artifact, locked)
        await self.refresh()
        async with self._pool.acquire() as conn, conn.transaction():
            # A version deferred before, made now by whichever path comes first (event, backfill,
            # catch-up): forgotten with its SBOM, or with the one made before.
            if caught_up is not None:
                await deferred.forget(conn, caught_up)
            if not await claim(conn, SCHEMA, CONSUMER, message_id):
                return False
            held = await conn.fetchrow(
                "SELECT id::text, graph FROM supply_chain.sboms WHERE team_id = $1::uuid AND source = "
                "'artifact' "
                "AND subject_ecosystem = $2 AND subject_name = $3 AND subject_version = $4 FOR UPDATE",
                event.team_id,
                event.ecosystem.value,
                event.name,
                event.version,
            )
            if held is not None:
                if _same_dependencies(graph_from_json(held["graph"]), graph):
                    return True
                await conn.execute("DELETE FROM supply_chain.sboms WHERE id = $1::uuid", held["id"])
            stored = await self._store_sbom(
                conn,
                event.team_id,
                ReadDocument(graph, "artifact"),
                subject=(event.ecosystem.value, event.name, event.version),
                document_name=None,
                subjects=[{"name": event.file.filename, "digest": {"sha256": event.file.sha256}}],
                event_id=message_id,
                source="artifact",
            )
        await self._announce(
            {event.team_id: (stored.changes, [stored.sbom_id])},
            "artifact_published",
            ctx.caused_by(message_id),
        )
        return True

    async def _shrinkwrap(self, event: ArtifactPublished) -> LockfileResult | None:
        """What the npm tarball's npm-shrinkwrap.json installs, or None (no shrinkwrap). One that cannot
        be read leaves the SBOM to the declared dependencies, as for a tarball without one: the
        registry accepted the version, and an SBOM of its declarations beats none."""
        declared = {d.name: d.requirement for d in event.dependencies}
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            try:
                async for chunk in self._blobs.open(event.file.sha256):
                    spool.write(chunk)
            except BlobNotFound:
                log.warning("npm tarball missing from the blob store", file=event.file.filename)
                return None
            spool.seek(0)
            try:
                return await asyncio.to_thread(
                    locked_dependencies, spool, self._limits.published_archive, declared
                )
            except (Refusal, LockfileError) as error:
                log.warning(
                    "npm shrinkwrap not read: the declared dependencies stand",
                    team_id=event.team_id,
                    package=event.name,
                    version=event.version,
                    error=str(error)[:500],
                )
                return None

    # --- versions the teams' registries take from their upstreams ---------------------------------

    async def on_upstream_version_fetched(
        self, event: UpstreamVersion, ctx: MessageContext, delivery: Delivery
    ) -> bool:
        """An SBOM of the upstream version (one component: the version itself), scanned, stored and
        signed, so its findings are the team's to triage, its policy blocks it, and later advisories
        re-match it; once per version (another file of it changes nothing). A team whose plan lacks
        supply_chain gets none: the version waits for its plan (`deferred`)."""
        item = _deferred_upstream(event)
        if await self._entitled_or_deferred(item):
            await self._sbom_of_upstream(event, ctx, delivery.message_id, item)
        return True

    async def upstream_version(self, request: UpstreamVersion, ctx: MessageContext) -> UpstreamVerdict:
        """Asked by the ArtifactManagerAgent before a team whose policy blocks downloads gets an
        upstream version it never had: the version's SBOM and findings stored (as the event would),
        then whether the policy blocks it now. For agents only: the request names its team."""
        if ctx.principal is None or "system" not in ctx.principal.roles:
            raise AgentError(ErrorCode.FORBIDDEN, "upstream versions are matched for agents only")
        # Unlike the event, an unknown plan is an error here: the registry then refuses the first
        # download (503) rather than serve it unchecked.
        item = _deferred_upstream(request)
        if request.team_id not in await self._entitled([request.team_id]):
            await self._defer(item)
            return UpstreamVerdict(blocked=False)
        await self._sbom_of_upstream(request, ctx, None, item)
        if self.policies is None:
            return UpstreamVerdict(blocked=False)
        key = BlockKey(request.ecosystem.value, request.name, request.version)
        return await self.policies.verdict(request.team_id, key)

    async def _sbom_of_upstream(
        self,
        version: UpstreamVersion,
        ctx: MessageContext,
        message_id: str | None,
        caught_up: Deferred | None = None,
    ) -> None:
        artifact = ArtifactVersion(
            ecosystem=version.ecosystem.value,
            name=version.name,
            version=version.version,
            files=((version.filename, version.sha256),),
        )
        graph = from_artifact(artifact)
        await self.refresh()
        async with self._pool.acquire() as conn, conn.transaction():
            if caught_up is not None:
                await deferred.forget(conn, caught_up)
            if message_id is not None and not await claim(conn, SCHEMA, UPSTREAM_CONSUMER, message_id):
                return
            # One SBOM per team and upstream version: the event and the registry's question may come
            # at once (and several files of one version).
            identity = "\n".join((version.team_id, version.ecosystem.value, version.name, version.version))
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 17))", f"upstream-sbom:{identity}"
            )
            held = await conn.fetchval(
                "SELECT id::text FROM supply_chain.sboms WHERE team_id = $1::uuid AND source = 'upstream' "
                "AND subject_ecosystem = $2 AND subject_name = $3 AND subject_version = $4",
                version.team_id,
                version.ecosystem.value,
                version.name,
                version.version,
            )
            if held is not None:
                return
            stored = await self._store_sbom(
                conn,
                version.team_id,
                ReadDocument(graph, "upstream"),
                subject=(version.ecosystem.value, version.name, version.version),
                document_name=None,
                subjects=[{"name": version.filename, "digest": {"sha256": version.sha256}}],
                event_id=message_id,
                source="upstream",
            )
        log.info(
            "upstream version matched",
            team_id=version.team_id,
            package=f"{version.ecosystem.value}/{version.name}",
            version=version.version,
            findings=len(stored.found),
        )
        await self._announce(
            {version.team_id: (stored.changes, [stored.sbom_id])},
            "upstream_fetched",
            ctx.caused_by(message_id) if message_id is not None else ctx,
        )

    # --- reads ------------------------------------------------------------------------------------

    async def sboms(self, request: ListSboms, ctx: MessageContext) -> SbomList:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            filters = (
                request.source,
                request.subject_ecosystem,
                request.subject_name,
                request.subject_version,
            )
            total = await conn.fetchval(
                f"SELECT count(*) FROM supply_chain.sboms WHERE {_SBOM_FILTER}", team_id, *filters
            )
            rows = await conn.fetch(
                f"SELECT {_SBOM_COLUMNS} FROM supply_chain.sboms WHERE {_SBOM_FILTER} "
                "ORDER BY created DESC, id LIMIT $6 OFFSET $7",
                team_id,
                *filters,
                request.limit,
                request.offset,
            )
            items = await self._sbom_infos(conn, team_id, rows)
        following = request.offset + len(items)
        return SbomList(items=items, total=total, next_offset=following if following < total else None)

    async def sbom(self, request: SbomRef, ctx: MessageContext) -> SbomInfo:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            return await self._sbom_info(conn, team_id, request.sbom_id)

    async def _sbom_info(self, conn: Connection, team_id: str, sbom_id: str) -> SbomInfo:
        row = await conn.fetchrow(
            f"SELECT {_SBOM_COLUMNS} FROM supply_chain.sboms WHERE team_id = $1::uuid AND id = $2::uuid",
            team_id,
            sbom_id,
        )
        if row is None:
            raise _not_found("SBOM")
        return (await self._sbom_infos(conn, team_id, [row]))[0]

    async def _sbom_infos(self, conn: Connection, team_id: str, rows: list[Any]) -> list[SbomInfo]:
        ids = [r["id"] for r in rows]
        counts = await store.open_counts(conn, team_id, ids)
        signed = await conn.fetch(
            "SELECT sbom_id::text AS sbom_id, id::text AS id FROM supply_chain.attestations "
            "WHERE team_id = $1::uuid AND sbom_id = ANY($2::uuid[]) "
            "ORDER BY created_at, kind, predicate_type, id",
            team_id,
            ids,
        )
        by_sbom: dict[str, list[str]] = {}
        for r in signed:
            by_sbom.setdefault(r["sbom_id"], []).append(r["id"])
        return [
            SbomInfo(
                id=r["id"],
                source=r["source"],
                subject_ecosystem=r["subject_ecosystem"],
                subject_name=r["subject_name"],
                subject_version=r["subject_version"],
                document_name=r["document_name"],
                input_format=r["input_format"],
                components=r["component_count"],
                created=r["created"],
                scanned_at=r["scanned_at"],
                findings=counts.get(r["id"], {}),
                attestations=by_sbom.get(r["id"], []),
            )
            for r in rows
        ]

    async def sbom_document(self, request: SbomDocumentRequest, ctx: MessageContext) -> DocumentLocation:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT subject_name, subject_version, created, tool_version, graph, cyclonedx_sha256, "
                "cyclonedx_size, "
                "spdx_sha256, spdx_size FROM supply_chain.sboms WHERE team_id = $1::uuid AND id = $2::uuid",
                team_id,
                request.sbom_id,
            )
        if row is None:
            raise _not_found("SBOM")
        sha256, size = row[f"{request.format}_sha256"], row[f"{request.format}_size"]
        if not await self._blobs.exists(sha256):
            # Regenerated byte for byte from the stored graph and instant (a blob store emptied or moved).
            graph = graph_from_json(row["graph"])
            version = row["tool_version"]
            if request.format == "cyclonedx":
                text = to_cyclonedx(graph, created=row["created"], tool_version=version)
            else:
                text = to_spdx(graph, created=row["created"], tool_version=version)
            sha256, size = await self._put(text.encode())
        suffix = "cdx.json" if request.format == "cyclonedx" else "spdx.json"
        stem = "-".join(p for p in (row["subject_name"], row["subject_version"]) if p).replace("/", "_")
        return DocumentLocation(
            sha256=sha256,
            size=size,
            media_type="application/vnd.cyclonedx+json"
            if request.format == "cyclonedx"
            else "application/spdx+json",
            filename=f"{stem}.{suffix}",
        )

    async def findings(self, request: ListFindings, ctx: MessageContext) -> FindingList:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            return await self._findings(conn, team_id, request)

    async def _findings(self, conn: Connection, team_id: str, request: ListFindings) -> FindingList:
        where = ["f.team_id = $1::uuid"]
        args: list[Any] = [team_id]
        if request.sbom_id is not None:
            args.append(request.sbom_id)
            where.append(f"f.sbom_id = ${len(args)}::uuid")
        if not request.include_retired:
            where.append("f.retired_at IS NULL")
        if request.min_severity is not None:
            args.append(store.RATINGS.index(request.min_severity.value))
            where.append(f"array_position({_RATINGS_SQL}, f.severity_rating) - 1 >= ${len(args)}")
        if request.status is not None:
            args.append(request.status.value)
            where.append(f"coalesce(t.status, 'under_investigation') = ${len(args)}")
        ratings = _RATINGS_SQL
        clause = " AND ".join(where)
        total = await conn.fetchval(f"SELECT count(*) FROM {store.FINDING_JOIN} WHERE {clause}", *args)
        rows = await conn.fetch(
            f"SELECT {store.FINDING_COLUMNS} FROM {store.FINDING_JOIN} WHERE {clause} "
            f"ORDER BY array_position({ratings}, f.severity_rating) DESC NULLS LAST, f.severity_score DESC "
            "NULLS LAST, "
            f"f.advisory_id, f.purl, f.sbom_id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
            *args,
            request.limit,
            request.offset,
        )
        following = request.offset + len(rows)
        return FindingList(
            items=[_finding_of_row(r) for r in rows],
            total=total,
            next_offset=following if following < total else None,
        )

    async def finding(self, request: FindingRef, ctx: MessageContext) -> FindingDetail:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            row = await self._finding_row(conn, team_id, request.finding_id)
            # The decision that applies to this finding: its product's own, else the team's.
            triage = await conn.fetchrow(
                f"SELECT f.advisory_id, f.purl, t.* FROM supply_chain.findings f {store.EFFECTIVE_TRIAGE} "
                "WHERE f.team_id = $1::uuid AND f.id = $2::uuid AND t.status IS NOT NULL",
                team_id,
                request.finding_id,
            )
        return FindingDetail(
            finding=_finding_of_row(row),
            triage=_triage_info(store.record_from_row(triage), product_triage.product_of_row(triage))
            if triage
            else None,
        )

    async def _finding_row(self, conn: Connection, team_id: str, finding_id: str) -> Any:
        row = await conn.fetchrow(
            f"SELECT {store.FINDING_COLUMNS} FROM {store.FINDING_JOIN} WHERE f.team_id = $1::uuid AND f.id = "
            "$2::uuid",
            team_id,
            finding_id,
        )
        if row is None:
            raise _not_found("finding")
        return row

    # --- triage and VEX ---------------------------------------------------------------------------

    async def triage(self, request: TriageRequest, ctx: MessageContext) -> TriageInfo:
        principal = require(ctx.principal, Permission.SUPPLY_CHAIN_TRIAGE)
        team_id = team_with(principal, Permission.SUPPLY_CHAIN_TRIAGE)
        actor = principal.user_id or (f"apikey:{principal.api_key_id}" if principal.api_key_id else "unknown")
        decision = Decision(
            Status(request.status.value),
            request.justification,
            request.impact_statement,
            request.action_statement,
            request.note,
        )
        at = datetime.now(UTC)
        product: product_triage.Product | None = None
        async with self._pool.acquire() as conn, conn.transaction():
            finding = await self._finding_row(conn, team_id, request.finding_id)
            held = await conn.fetchrow(
                "SELECT * FROM supply_chain.triage WHERE team_id = $1::uuid AND advisory_id = $2 AND purl = "
                "$3 "
                "FOR UPDATE",
                team_id,
                finding["advisory_id"],
                finding["purl"],
            )
            key = FindingKey(finding["advisory_id"], finding["purl"])
            team_record = store.record_from_row(held) if held else open_record(key, at)
            if request.product is None:
                record = decide(team_record, decision, actor, at)
                await store.save_triage(conn, team_id, record)
            else:
                product = await self._product(conn, team_id, request.product, key)
                own = await product_triage.held(conn, team_id, product, key)
                # A product without a decision of its own starts from the team's, which applied to it
                # until now: its history (and the audit's `before`) shows what this one replaces.
                record = store.record_from_row(own) if own else _inherited(team_record, at)
                record = decide(record, decision, actor, at)
                await product_triage.save(conn, team_id, product, record)
        if self.policies is not None:
            await self.policies.sync(team_id, ctx)
        return _triage_info(record, product)

    async def withdraw_triage(self, request: TriageWithdrawRequest, ctx: MessageContext) -> TriageWithdrawal:
        """Withdraw a product's own decision: the team's applies to that product again (in its findings,
        its VEX and the download policy). The decision is kept, history and all, as withdrawn."""
        principal = require(ctx.principal, Permission.SUPPLY_CHAIN_TRIAGE)
        team_id = team_with(principal, Permission.SUPPLY_CHAIN_TRIAGE)
        actor = principal.user_id or (f"apikey:{principal.api_key_id}" if principal.api_key_id else "unknown")
        at = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            finding = await self._finding_row(conn, team_id, request.finding_id)
            key = FindingKey(finding["advisory_id"], finding["purl"])
            # Locked in triage's order (the team's row, then the product's), so the two never deadlock.
            team = await conn.fetchrow(
                "SELECT * FROM supply_chain.triage WHERE team_id = $1::uuid AND advisory_id = $2 "
                "AND purl = $3 FOR UPDATE",
                team_id,
                key.advisory_id,
                key.purl,
            )
            product = await self._resolved(conn, team_id, request.product)
            gone = await product_triage.withdraw(conn, team_id, product, key, actor, at)
            if gone is None:
                raise AgentError(
                    ErrorCode.NOT_FOUND,
                    f"the product has no decision of its own about {key.advisory_id} in {key.purl} to "
                    "withdraw: the team-wide decision applies to it already",
                )
        if self.policies is not None:
            await self.policies.sync(team_id, ctx)
        return TriageWithdrawal(
            withdrawn=_triage_info(store.record_from_row(gone), product),
            applies=_triage_info(store.record_from_row(team) if team else open_record(key, at)),
        )

    async def _product(
        self, conn: Connection, team_id: str, scope: ProductScope, key: FindingKey
    ) -> product_triage.Product:
        product = await self._resolved(conn, team_id, scope)
        if not await product_triage.holds(conn, team_id, product, key):
            raise AgentError(
                ErrorCode.VALIDATION_FAILED,
                f"the product has no finding of {key.advisory_id} in {key.purl}: a product's triage is "
                "about a finding it has",
                [
                    {
                        "loc": ["body", "product"],
                        "type": "not_in_product",
                        "message": f"{key.advisory_id} in {key.purl} is not a finding of this product",
                    }
                ],
            )
        return product

    async def _resolved(self, conn: Connection, team_id: str, scope: ProductScope) -> product_triage.Product:
        product = await product_triage.resolve(conn, team_id, scope)
        if product is None:
            if scope.sbom_id is not None:
                raise _not_found("SBOM")
            ecosystem = scope.ecosystem.value if scope.ecosystem else ""
            raise _not_found(f"SBOM of {ecosystem}/{scope.name} {scope.version}")
        return product

    async def vex(self, request: VexRequest, ctx: MessageContext) -> DocumentLocation:
        """Every open finding of the SBOM as a VEX statement: its triage, or `under_investigation`
        (CycloneDX `in_triage`) since it was first seen when nobody has triaged it."""
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            sbom = await conn.fetchrow(
                "SELECT graph, subject_name, subject_version FROM supply_chain.sboms "
                "WHERE team_id = $1::uuid AND id = $2::uuid",
                team_id,
                request.sbom_id,
            )
            if sbom is None:
                raise _not_found("SBOM")
            # A LEFT JOIN: a finding is exported whether or not a triage row holds a decision on it.
            # Each statement the decision that applies to this SBOM's product: its own, else the team's.
            rows = await conn.fetch(
                "SELECT f.advisory_id, f.purl, f.aliases, f.first_seen, t.status, t.justification, "
                "t.impact_statement, t.action_statement, t.note, t.updated_by, t.updated_at, t.history "
                f"FROM supply_chain.findings f {store.EFFECTIVE_TRIAGE} WHERE f.team_id = $1::uuid AND "
                "f.sbom_id = $2::uuid AND f.retired_at IS NULL ORDER BY f.advisory_id, f.purl",
                team_id,
                request.sbom_id,
            )
        graph = graph_from_json(sbom["graph"])
        product = graph.root.purl or f"pkg:generic/{graph.root.name.replace('/', '%2F')}"
        records = [
            store.record_from_row(r)
            if r["status"] is not None
            else open_record(FindingKey(r["advisory_id"], r["purl"]), r["first_seen"])
            for r in rows
        ]
        latest = max((r.updated_at for r in records), default=datetime.now(UTC).replace(microsecond=0))
        stem = "-".join(p for p in (sbom["subject_name"], sbom["subject_version"]) if p).replace("/", "_")
        if request.format == "openvex":
            if not records:
                # OpenVEX 0.2.0 has no empty document: "a data structure grouping one or more VEX
                # statements", and its JSON schema says `statements` minItems 1. An invalid file
                # with a 200 would be published by a pipeline as if it were VEX, and a 204 would
                # write an empty file just as silently; so a 409 that says why and names the
                # format that can say "nothing open" (a CycloneDX VEX BOM with no vulnerabilities).
                raise AgentError(
                    ErrorCode.CONFLICT,
                    "the SBOM has no open findings, and an OpenVEX document needs at least one "
                    "statement; ask format=cyclonedx for a VEX document with no vulnerabilities",
                    [{"loc": "sbom_id", "type": "no_open_findings", "message": "no statement to make"}],
                )
            document = to_openvex(
                records,
                product_purl=product,
                author="machine-native-ops",
                timestamp=latest,
                aliases={r["advisory_id"]: r["aliases"] for r in rows},
            )
            sha256, size = await self._put(json.dumps(document, indent=2).encode())
            return DocumentLocation(
                sha256=sha256, size=size, media_type=JSON, filename=f"{stem}.openvex.json"
            )
        text = to_cyclonedx_vex(
            records, product_purl=product, created=latest, tool_version=self._tool_version
        )
        sha256, size = await self._put(text.encode())
        return DocumentLocation(
            sha256=sha256,
            size=size,
            media_type="application/vnd.cyclonedx+json",
            filename=f"{stem}.vex.cdx.json",
        )

    # --- advisories -------------------------------------------------------------------------------

    async def advisory_import(
        self, request: AdvisoryImportRequest, ctx: MessageContext
    ) -> AdvisoryImportInfo:
        require(ctx.principal, Permission.PLATFORM_OPERATE)
        content = await self._read_blob(
            request.blob.sha256, self._limits.max_archive_bytes, "advisory archive"
        )
        async with self._import_lock:  # one import at a time per replica; rows are upserted by id anyway
            return await self._import(request.source, content, ctx)

    async def _import(self, source: str, content: bytes, ctx: MessageContext) -> AdvisoryImportInfo:
        async with self._pool.acquire() as conn:
            import_id = await conn.fetchval(
                "INSERT INTO supply_chain.advisory_imports (source) VALUES ($1) RETURNING id::text", source
            )
        counts = {"files": 0, "new": 0, "modified": 0, "withdrawn": 0, "unchanged": 0}
        errors: list[list[str]] = []
        touched: set[tuple[str, str]] = set()
        withdrawn_ids: set[str] = set()
        try:
            with tempfile.TemporaryDirectory(prefix="mno-osv-") as scratch:
                archive = Path(scratch) / "advisories"
                archive.write_bytes(content)
                try:
                    records = await asyncio.to_thread(_read_records, archive, errors, counts)
                except ArchiveRefused as error:
                    # Read whole before any record is written: a refused archive imports nothing.
                    raise AgentError(
                        ErrorCode.BAD_REQUEST,
                        f"{error.kind}: the advisory archive is refused: {error}",
                        [{"loc": "document", "type": error.kind, "message": str(error)}],
                    ) from None
                except ValueError as error:
                    raise AgentError(
                        ErrorCode.BAD_REQUEST,
                        "not a zip or tar archive of OSV records",
                        [{"loc": "document", "type": "invalid_archive", "message": str(error)}],
                    ) from None
            async with self._pool.acquire() as conn:
                held = await advisory_store.held_versions(conn)
                changed = []
                for data, advisory in records:
                    modified = held.get(advisory.id)
                    if modified is not None and modified >= advisory_store.aware(advisory.modified):
                        counts["unchanged"] += 1
                        continue
                    if advisory.withdrawn is not None:
                        counts["withdrawn"] += 1
                        withdrawn_ids.add(advisory.id)
                    elif modified is None:
                        counts["new"] += 1
                    else:
                        counts["modified"] += 1
                    held[advisory.id] = advisory_store.aware(advisory.modified)
                    changed.append((data, advisory))
                for start in range(0, len(changed), IMPORT_BATCH):
                    batch = changed[start : start + IMPORT_BATCH]
                    async with conn.transaction():
                        before = await advisory_store.held_packages(conn, [a.id for _, a in batch])
                        for packages in before.values():
                            touched |= packages
                        for _, advisory in batch:
                            touched |= advisory_store.packages_of(advisory)
                        await advisory_store.upsert(conn, batch)
                await self.live.refresh(conn)
            by_team, findings_changed, sboms = await self._rescan(touched, withdrawn_ids)
            await self._announce(await self._of_entitled(by_team), "advisory_import", ctx)
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(
                    "UPDATE supply_chain.advisory_imports SET status = 'finished', finished_at = now(), "
                    "files = $2, "
                    "new = $3, modified = $4, withdrawn = $5, unchanged = $6, errors = $7, error_count = $8, "
                    "findings_changed = $9, sboms_rescanned = $10 WHERE id = $1::uuid RETURNING *, id::text "
                    "AS id",
                    import_id,
                    counts["files"],
                    counts["new"],
                    counts["modified"],
                    counts["withdrawn"],
                    counts["unchanged"],
                    errors[:100],
                    len(errors),
                    findings_changed,
                    sboms,
                )
        except BaseException as error:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "UPDATE supply_chain.advisory_imports SET status = 'failed', finished_at = now(), "
                    "failure = $2 "
                    "WHERE id = $1::uuid",
                    import_id,
                    str(error)[:2000] or type(error).__name__,
                )
            raise
        log.info(
            "advisories imported",
            source=source,
            **counts,
            errors=len(errors),
            findings_changed=findings_changed,
        )
        return _import_info(row)

    async def _rescan(
        self, touched: set[tuple[str, str]], withdrawn: set[str]
    ) -> tuple[dict[str, tuple[store.Changes, list[str]]], int, int]:
        """Re-match the stored components of the packages the import touched, SBOM by SBOM."""
        if not touched:
            return {}, 0, 0
        ecosystems, names = zip(*sorted(touched), strict=True)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT c.sbom_id::text AS sbom_id, c.team_id::text AS team_id, c.ecosystem, c.name, "
                "c.display_name, "
                "c.version, c.purl, c.path FROM supply_chain.sbom_components c "
                "JOIN unnest($1::text[], $2::text[]) AS t(ecosystem, name) ON c.ecosystem = t.ecosystem "
                "AND c.name = t.name ORDER BY c.sbom_id",
                list(ecosystems),
                list(names),
            )
        per_sbom: dict[tuple[str, str], list[ScannedComponent]] = {}
        for r in rows:
            per_sbom.setdefault((r["team_id"], r["sbom_id"]), []).append(
                ScannedComponent(
                    r["ecosystem"], r["name"], r["display_name"], r["version"], r["purl"], tuple(r["path"])
                )
            )
        by_team: dict[str, tuple[store.Changes, list[str]]] = {}
        total = 0
        at = datetime.now(UTC)

        async def rescan_one(team_id: str, sbom_id: str, components: list[ScannedComponent]) -> None:
            nonlocal total
            found = match(self.live.index, components)
            packages = {(c.ecosystem, c.name) for c in components}
            async with self._pool.acquire() as conn, conn.transaction():
                changes = await store.reconcile_findings(
                    conn, team_id, sbom_id, found, packages=packages, withdrawn=withdrawn, at=at
                )
                if changes:
                    # The new result is signed with the findings, in their transaction.
                    await self._attest_rescan(conn, team_id, sbom_id, at)
            if changes:
                held, sboms = by_team.setdefault(team_id, (store.Changes(), []))
                held.new += changes.new
                held.updated += changes.updated
                held.retired += changes.retired
                held.advisories |= changes.advisories
                held.ratings.extend(changes.ratings)
                held.unrated += changes.unrated
                sboms.append(sbom_id)
                total += changes.new + changes.updated + changes.retired

        # SBOMs are independent (a transaction each): a few at once keep PostgreSQL and the blob
        # store busy while this loop matches and signs.
        pending = iter(per_sbom.items())

        async def worker() -> None:
            for (team_id, sbom_id), components in pending:
                await rescan_one(team_id, sbom_id, components)

        await asyncio.gather(*(worker() for _ in range(RESCAN_CONCURRENCY)))
        return by_team, total, len(per_sbom)

    async def advisory_status(self, request: AdvisoryStatusQuery, ctx: MessageContext) -> AdvisoryStatus:
        require(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            counts = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE withdrawn IS NULL) AS live, count(*) FILTER (WHERE withdrawn "
                "IS NOT NULL) "
                "AS withdrawn, max(modified) AS latest FROM supply_chain.advisories"
            )
            rows = await conn.fetch(
                "SELECT *, id::text AS id FROM supply_chain.advisory_imports ORDER BY started_at DESC LIMIT "
                "$1",
                request.limit,
            )
        return AdvisoryStatus(
            advisories=counts["live"],
            withdrawn=counts["withdrawn"],
            latest_modified=counts["latest"],
            imports=[_import_info(r) for r in rows],
        )

    # --- attestations -----------------------------------------------------------------------------

    async def attestations(self, request: ListAttestations, ctx: MessageContext) -> AttestationList:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_ATTESTATION_COLUMNS} FROM supply_chain.attestations WHERE team_id = $1::uuid "
                "AND ($2::uuid IS NULL OR sbom_id = $2::uuid) ORDER BY created_at DESC, id LIMIT $3",
                team_id,
                request.sbom_id,
                request.limit,
            )
        return AttestationList(items=[AttestationInfo(**dict(r)) for r in rows])

    async def _attestation(self, conn: Connection, team_id: str, attestation_id: str) -> Any:
        row = await conn.fetchrow(
            f"SELECT {_ATTESTATION_COLUMNS}, envelope, envelope_sha256, envelope_size FROM "
            "supply_chain.attestations "
            "WHERE team_id = $1::uuid AND id = $2::uuid",
            team_id,
            attestation_id,
        )
        if row is None:
            raise _not_found("attestation")
        return row

    async def attestation(self, request: AttestationRef, ctx: MessageContext) -> AttestationInfo:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            row = await self._attestation(conn, team_id, request.attestation_id)
        return AttestationInfo(**{k: row[k] for k in AttestationInfo.model_fields})

    async def attestation_envelope(self, request: AttestationRef, ctx: MessageContext) -> DocumentLocation:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            row = await self._attestation(conn, team_id, request.attestation_id)
        sha256, size = row["envelope_sha256"], row["envelope_size"]
        if not await self._blobs.exists(sha256):
            sha256, size = await self._put(json.dumps(row["envelope"], sort_keys=True).encode())
        return DocumentLocation(
            sha256=sha256,
            size=size,
            media_type="application/vnd.dsse.envelope.v1+json",
            filename=f"{row['id']}.dsse.json",
        )

    async def attestation_verify(self, request: AttestationRef, ctx: MessageContext) -> Verification:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn:
            row = await self._attestation(conn, team_id, request.attestation_id)
        return _verification(attestations.verify(row["envelope"], self._keyring.trusted))

    async def envelope_verify(self, request: VerifyEnvelope, ctx: MessageContext) -> Verification:
        team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        content = await self._read_blob(request.blob.sha256, attestations.MAX_ENVELOPE_BYTES, "envelope")
        verified = await asyncio.to_thread(attestations.verify, content, self._keyring.trusted)
        return _verification(verified)

    async def public_keys(self, request: PublicKeysQuery, ctx: MessageContext) -> PublicKeys:
        require(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        return PublicKeys(
            keys=[
                PublicKey(key_id=k, pem=pem, current=current)
                for k, pem, current in self._keyring.public_keys()
            ]
        )


_RATINGS_SQL = "ARRAY['none', 'low', 'medium', 'high', 'critical']"
_SBOM_COLUMNS = (
    "id::text AS id, source, subject_ecosystem, subject_name, subject_version, document_name, input_format, "
    "component_count, created, scanned_at"
)
_SBOM_FILTER = (
    "team_id = $1::uuid AND ($2::text IS NULL OR source = $2) "
    "AND ($3::text IS NULL OR subject_ecosystem = $3) AND ($4::text IS NULL OR subject_name = $4) "
    "AND ($5::text IS NULL OR subject_version = $5)"
)
_ATTESTATION_COLUMNS = (
    "id::text AS id, sbom_id::text AS sbom_id, kind, predicate_type, subject_name, subject_sha256, "
    "key_id, created_at"
)


def _backfill_id(event: ArtifactPublished) -> str:
    """The inbox id of a version's SBOM made outside its event (backfill, catch-up): one per version."""
    identity = "\n".join((event.team_id, event.ecosystem.value, event.name, event.version))
    return "backfill:" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def _deferred_artifact(event: ArtifactPublished) -> Deferred:
    return Deferred(
        event.team_id,
        "artifact",
        event.ecosystem.value,
        event.name,
        event.version,
        event.model_dump(mode="json"),
    )


def _deferred_upstream(version: UpstreamVersion) -> Deferred:
    return Deferred(
        version.team_id,
        "upstream",
        version.ecosystem.value,
        version.name,
        version.version,
        version.model_dump(mode="json"),
    )


def _read_records(
    path: Path, errors: list[list[str]], counts: dict[str, int]
) -> list[tuple[dict[str, Any], Any]]:
    records = []
    for name, content in osv_files(path):
        counts["files"] += 1
        try:
            records.append(read(content, name))
        except InvalidAdvisory as error:
            errors.append([name, str(error)[:500]])
    return records


def _same_dependencies(a: ComponentGraph, b: ComponentGraph) -> bool:
    return (a.components, a.edges) == (b.components, b.edges)


def _vuln_entry(
    advisory_id: str,
    aliases: Iterable[str],
    purl: str,
    method: str | None,
    vector: str | None,
    rating: str | None,
    fixed_versions: Iterable[str],
) -> dict[str, Any]:
    """One finding as an entry of the in-toto vulns predicate's result."""
    return {
        "id": advisory_id,
        "aliases": list(aliases),
        "purl": purl,
        "severity": [{"method": method, "score": vector or rating}] if rating else [],
        "fixed_versions": list(fixed_versions),
    }


def _severity_order(row: Any) -> tuple[int, float, str, str]:
    """As `_ordered` sorts a scan's findings: gravest first, then by advisory and package."""
    ranks = store.RATINGS
    rating = row["severity_rating"]
    return (
        -(ranks.index(rating) if rating in ranks else -1),
        -(row["severity_score"] or 0),
        row["advisory_id"],
        row["purl"],
    )


def _ordered(found: list[FoundVulnerability]) -> list[FoundVulnerability]:
    ranks = store.RATINGS
    return sorted(
        found,
        key=lambda f: (
            -(ranks.index(f.rating) if f.rating in ranks else -1),
            -(f.score or 0),
            f.advisory_id,
            f.component.purl,
        ),
    )


def _finding_of_scan(f: FoundVulnerability, sbom_id: str | None) -> FindingInfo:
    return FindingInfo(
        id=None,
        sbom_id=sbom_id,
        advisory_id=f.advisory_id,
        aliases=list(f.aliases),
        summary=f.summary,
        ecosystem=f.component.ecosystem,
        package=f.component.display_name,
        version=f.component.version,
        purl=f.component.purl,
        severity=Severity(rating=f.rating, score=f.score, method=f.method, vector=f.vector),
        fixed_versions=list(f.fixed_versions),
        path=list(f.component.path),
    )


def _finding_of_row(r: Any) -> FindingInfo:
    return FindingInfo(
        id=r["id"],
        sbom_id=r["sbom_id"],
        advisory_id=r["advisory_id"],
        aliases=list(r["aliases"]),
        summary=r["summary"],
        ecosystem=r["ecosystem"],
        package=r["display_name"],
        version=r["version"],
        purl=r["purl"],
        severity=Severity(
            rating=r["severity_rating"],
            score=r["severity_score"],
            method=r["severity_method"],
            vector=r["severity_vector"],
        ),
        fixed_versions=list(r["fixed_versions"]),
        path=list(r["path"]),
        triage=r["triage"] or "under_investigation",
        triage_scope="product" if r.get("triage_product") else "team",
        first_seen=r["first_seen"],
        retired_at=r["retired_at"],
        retired_reason=r["retired_reason"],
    )


def _inherited(team: TriageRecord, at: datetime) -> TriageRecord:
    """A product's first record: the team's decision as it stood, taken over at `at`."""
    taken = Transition(None, team.decision, SYSTEM_ACTOR, at)
    return TriageRecord(team.key, team.decision, SYSTEM_ACTOR, at, (taken,))


def _triage_info(record: Any, product: product_triage.Product | None = None) -> TriageInfo:
    d = record.decision
    return TriageInfo(
        advisory_id=record.key.advisory_id,
        purl=record.key.purl,
        product=product.info() if product is not None else None,
        status=d.status.value,
        justification=d.justification,
        impact_statement=d.impact_statement,
        action_statement=d.action_statement,
        note=d.note,
        updated_by=record.updated_by,
        updated_at=record.updated_at,
        history=[
            TriageTransition(
                previous=t.previous.value if t.previous else None,
                status=t.decision.status.value,
                justification=t.decision.justification,
                impact_statement=t.decision.impact_statement,
                action_statement=t.decision.action_statement,
                note=t.decision.note,
                actor=t.actor,
                at=t.at,
            )
            for t in record.history
        ],
    )


def _import_info(r: Any) -> AdvisoryImportInfo:
    return AdvisoryImportInfo(
        id=r["id"],
        source=r["source"],
        status=r["status"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        files=r["files"],
        new=r["new"],
        modified=r["modified"],
        withdrawn=r["withdrawn"],
        unchanged=r["unchanged"],
        error_count=r["error_count"],
        errors=r["errors"],
        findings_changed=r["findings_changed"],
        sboms_rescanned=r["sboms_rescanned"],
        failure=r["failure"],
    )


def _verification(verified: attestations.Verified) -> Verification:
    return Verification(
        verified=True,
        key_id=verified.key_id,
        predicate_type=str(verified.statement.get("predicateType")),
        subjects=list(verified.statement.get("subject") or []),
    )
