"""Wiring of the supply_chain agent: scans, SBOMs, findings, triage, advisory imports and
attestations over its store and the blob store, the consumers of the registry's published versions
and of the upstream versions its teams take (and the registry's question about one before a first
download), the download policies, and the SBOM backfill of versions stored before it (asked of the
ArtifactManagerAgent). Only teams whose plan includes supply_chain (asked of the SuperAgent) get
SBOMs, alerts and blocks; the others' versions wait for their plan (the catch-up job)."""

from services.supply_chain import deferred
from services.supply_chain.policies import Policies
from services.supply_chain.service import Limits, SupplyChain, answers
from services.supply_chain.signing import load_keyring
from services.supply_chain.store import purge_teams
from services.supply_chain.summary import Summaries
from shared.archives import ArchiveLimits
from shared.blobstore.from_settings import blob_store_from_settings
from shared.entitlements import EntitledTeams
from shared.mesh import install_mesh
from shared.messages.agents import AgentName
from shared.messages.registry import (
    ARTIFACT_PUBLISHED,
    SC_ADVISORY_IMPORT,
    SC_ADVISORY_STATUS,
    SC_ATTESTATION,
    SC_ATTESTATION_ENVELOPE,
    SC_ATTESTATION_VERIFY,
    SC_ATTESTATIONS,
    SC_BLOCKED,
    SC_ENVELOPE_VERIFY,
    SC_FINDING,
    SC_FINDING_SUMMARY,
    SC_FINDINGS,
    SC_OVERRIDE_CREATE,
    SC_OVERRIDE_DELETE,
    SC_OVERRIDES,
    SC_POLICY,
    SC_POLICY_SET,
    SC_PUBLIC_KEYS,
    SC_SBOM,
    SC_SBOM_DOCUMENT,
    SC_SBOMS,
    SC_SCAN,
    SC_TRIAGE,
    SC_TRIAGE_WITHDRAW,
    SC_UPSTREAM_VERSION,
    SC_VEX,
    UPSTREAM_VERSION_FETCHED,
)
from shared.runtime import AgentRuntime, package_version

AGENT = AgentName.SUPPLY_CHAIN
# Each published version is parsed, written as two documents, matched and signed: a few at a time,
# so request handlers keep database connections.
PUBLISHED_CONCURRENCY = 4
# The SBOM backfill runs this long after the agent is ready, and again as long as it fails (the
# ArtifactManagerAgent may still be starting); once a pass has finished, published versions arrive as
# events.
BACKFILL_SECONDS = 10.0
# Versions deferred while their team's plan lacked supply_chain get their SBOMs this soon after the
# plan gains it (plan changes are announced to no agent; the SuperAgent is asked only while some wait).
CATCH_UP_SECONDS = 15.0


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    mesh = install_mesh(runtime, pool)
    mesh.purge.register(purge_teams)
    mesh.purge.register(deferred.purge_teams)
    settings = runtime.settings
    config = settings.supply_chain
    archive = settings.registry.archive_limits
    keyring = load_keyring(
        config.signing_key.get_secret_value() if config.signing_key else None,
        [k.get_secret_value() for k in config.previous_signing_keys],
        settings.data_dir,
    )
    blobs = blob_store_from_settings(settings)
    runtime.on_shutdown(blobs.close)
    supply_chain = SupplyChain(
        pool,
        blobs,
        runtime.bus,
        keyring,
        Limits(
            config.max_document_bytes,
            config.max_advisory_archive_bytes,
            ArchiveLimits(
                max_members=archive.max_members,
                max_total_uncompressed=archive.max_total_uncompressed_bytes,
                max_ratio=archive.max_ratio,
                max_member_bytes=archive.max_member_bytes,
            ),
        ),
        package_version(),
    )
    entitled = EntitledTeams(runtime.bus)
    supply_chain.entitled = entitled
    policies = Policies(pool, runtime.bus, entitled)
    supply_chain.policies = policies
    await supply_chain.refresh()
    service = runtime.service
    service.add(SC_POLICY, answers(policies.get))
    service.add(SC_POLICY_SET, answers(policies.set))
    service.add(SC_OVERRIDES, answers(policies.overrides))
    service.add(SC_OVERRIDE_CREATE, answers(policies.create_override))
    service.add(SC_OVERRIDE_DELETE, answers(policies.delete_override))
    service.add(SC_BLOCKED, answers(policies.blocked))
    service.add(SC_UPSTREAM_VERSION, answers(supply_chain.upstream_version))
    service.add(SC_SCAN, answers(supply_chain.scan))
    service.add(SC_SBOMS, answers(supply_chain.sboms))
    service.add(SC_SBOM, answers(supply_chain.sbom))
    service.add(SC_SBOM_DOCUMENT, answers(supply_chain.sbom_document))
    service.add(SC_VEX, answers(supply_chain.vex))
    service.add(SC_FINDINGS, answers(supply_chain.findings))
    service.add(SC_FINDING_SUMMARY, answers(Summaries(pool).summary))
    service.add(SC_FINDING, answers(supply_chain.finding))
    service.add(SC_TRIAGE, answers(supply_chain.triage))
    service.add(SC_TRIAGE_WITHDRAW, answers(supply_chain.withdraw_triage))
    service.add(SC_ADVISORY_IMPORT, answers(supply_chain.advisory_import))
    service.add(SC_ADVISORY_STATUS, answers(supply_chain.advisory_status))
    service.add(SC_ATTESTATIONS, answers(supply_chain.attestations))
    service.add(SC_ATTESTATION, answers(supply_chain.attestation))
    service.add(SC_ATTESTATION_ENVELOPE, answers(supply_chain.attestation_envelope))
    service.add(SC_ATTESTATION_VERIFY, answers(supply_chain.attestation_verify))
    service.add(SC_ENVELOPE_VERIFY, answers(supply_chain.envelope_verify))
    service.add(SC_PUBLIC_KEYS, answers(supply_chain.public_keys))
    runtime.consume(
        ARTIFACT_PUBLISHED, supply_chain.on_artifact_published, max_concurrency=PUBLISHED_CONCURRENCY
    )
    runtime.consume(
        UPSTREAM_VERSION_FETCHED,
        supply_chain.on_upstream_version_fetched,
        max_concurrency=PUBLISHED_CONCURRENCY,
    )
    backfilled = False

    async def backfill() -> None:
        nonlocal backfilled
        if not backfilled:
            # Once soon after start too: a policy never announced as it stands now (e.g. before the
            # registry learnt whether a team blocks downloads) is announced without waiting.
            await policies.sync_all()
            await supply_chain.backfill()
            backfilled = True

    runtime.every("sbom_backfill", BACKFILL_SECONDS, backfill)
    runtime.every("plan_catch_up", CATCH_UP_SECONDS, supply_chain.catch_up)
    runtime.every("download_block_sync", config.block_sync_interval_seconds, policies.sync_all)
