"""Wiring of the artifact_manager agent: the registry's endpoints over its store and the blob store."""

from typing import Any

from services.registry import store as registry_store
from services.registry.blob_sweep import OrphanBlobSweep
from services.registry.download_counts import DownloadCounts
from services.registry.download_policy import DownloadPolicyConsumer
from services.registry.license_backfill import LicenseBackfill
from services.registry.notices import Changed, announcing
from services.registry.npm_service import NpmRegistry
from services.registry.service import RegistryLimits, answers
from services.registry.upstream import Upstream, Upstreams
from shared.archives import ArchiveLimits
from shared.blobstore.from_settings import blob_store_from_settings
from shared.db.outbox import Outbox
from shared.mesh import install_mesh
from shared.messages.agents import AgentName
from shared.messages.artifacts import (
    DeletedArtifacts,
    Ecosystem,
    NpmDeprecated,
    NpmDistTagRequest,
    PublishedArtifact,
    VersionInfo,
)
from shared.messages.registry import (
    ARTIFACT_DELETE,
    ARTIFACT_DELETE_PACKAGE,
    ARTIFACT_FILE,
    ARTIFACT_NPM_DEPRECATE,
    ARTIFACT_NPM_DIST_TAG_REMOVE,
    ARTIFACT_NPM_DIST_TAG_SET,
    ARTIFACT_NPM_DIST_TAGS,
    ARTIFACT_NPM_PACKUMENT,
    ARTIFACT_NPM_PUBLISH,
    ARTIFACT_NPM_TARBALL,
    ARTIFACT_NPM_UNPUBLISH,
    ARTIFACT_PUBLISH,
    ARTIFACT_PYTHON_PAGE,
    ARTIFACT_SEARCH,
    ARTIFACT_STORED_VERSIONS,
    ARTIFACT_UNYANK,
    ARTIFACT_VERSION,
    ARTIFACT_VERSIONS,
    ARTIFACT_YANK,
    DOWNLOAD_OVERRIDE_CHANGED,
    DOWNLOAD_POLICY_CHANGED,
    DOWNLOADS_COUNTED,
    VERSION_BLOCK_CHANGED,
)
from shared.runtime import AgentRuntime

AGENT = AgentName.ARTIFACT_MANAGER
# Publishing reads the whole file back from the blob store and decompresses it: allow for a large one.
PUBLISH_CONCURRENCY = 4
OUTBOX_RELAY_SECONDS = 2.0
# Blobs no row refers to are deleted once older than `registry.orphan_blob_grace_seconds`.
ORPHAN_BLOB_SWEEP_SECONDS = 3600.0
DOWNLOAD_CLAIMS_PRUNE_SECONDS = 3600.0
# Upstream files recorded before their versions were announced for matching (upstream_matching.py).
UPSTREAM_ANNOUNCE_SECONDS = 60.0
# Licence ids of the rows from before they were normalised at publish (license_backfill.py): the
# first run about a minute after start; later runs find nothing left, through two partial indexes.
LICENSE_BACKFILL_SECONDS = 60.0


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    mesh = install_mesh(runtime, pool)
    mesh.purge.register(registry_store.purge_teams)
    settings = runtime.settings
    blobs = blob_store_from_settings(settings)
    runtime.on_shutdown(blobs.close)
    archive = settings.registry.archive_limits
    # `artifact.published` is written with the file it announces and sent after the commit; the
    # relay sends what JetStream did not take then (one replica at a time).
    outbox = Outbox(pool, runtime.bus, agent=AGENT.value, schema=AGENT.value)
    runtime.every("outbox-relay", OUTBOX_RELAY_SECONDS, outbox.run)
    runtime.on_shutdown(outbox.close)  # before the pool closes (cleanups run last-registered first)
    sweep = OrphanBlobSweep(pool, blobs, grace_seconds=settings.registry.orphan_blob_grace_seconds)
    runtime.every("orphan-blob-sweep", ORPHAN_BLOB_SWEEP_SECONDS, sweep.run)
    runtime.every("license-backfill", LICENSE_BACKFILL_SECONDS, LicenseBackfill(pool, blobs).run)
    registry = NpmRegistry(
        pool,
        blobs,
        runtime.bus,
        outbox,
        RegistryLimits(
            max_upload_bytes=settings.registry.max_upload_bytes,
            archive=ArchiveLimits(
                max_members=archive.max_members,
                max_total_uncompressed=archive.max_total_uncompressed_bytes,
                max_ratio=archive.max_ratio,
                max_member_bytes=archive.max_member_bytes,
            ),
            metadata_min_wheel_bytes=settings.registry.metadata_min_wheel_bytes,
        ),
    )
    registry.upstreams = Upstreams(
        Upstream(
            name=name,
            kind=upstream.kind,
            url=upstream.url,
            teams=frozenset(t.lower() for t in upstream.teams),
            cache_ttl_seconds=upstream.cache_ttl_seconds,
            timeout_seconds=upstream.timeout_seconds,
        )
        for name, upstream in settings.registry.upstreams.items()
    )
    runtime.on_shutdown(registry.upstreams.close)
    service = runtime.service
    bus = runtime.bus

    def changed(handler: Any, what: Changed) -> Any:
        # After the commit, the edges drop the team's cached registry reads (services/registry/notices.py).
        return announcing(bus, answers(handler), what)

    service.add(ARTIFACT_PUBLISH, changed(registry.publish, _published))
    service.add(ARTIFACT_PYTHON_PAGE, answers(registry.python_page))
    service.add(ARTIFACT_FILE, answers(registry.file))
    service.add(ARTIFACT_YANK, changed(registry.yank, _version))
    service.add(ARTIFACT_UNYANK, changed(registry.unyank, _version))
    service.add(ARTIFACT_DELETE, changed(registry.delete, _version))
    service.add(ARTIFACT_DELETE_PACKAGE, changed(registry.delete_package, _version))
    service.add(ARTIFACT_VERSIONS, answers(registry.versions))
    service.add(ARTIFACT_VERSION, answers(registry.version))
    service.add(ARTIFACT_SEARCH, answers(registry.search))
    service.add(ARTIFACT_STORED_VERSIONS, answers(registry.stored_versions))
    service.add(ARTIFACT_NPM_PUBLISH, changed(registry.npm_publish, _published))
    service.add(ARTIFACT_NPM_PACKUMENT, answers(registry.npm_packument))
    service.add(ARTIFACT_NPM_TARBALL, answers(registry.npm_tarball))
    service.add(ARTIFACT_NPM_DIST_TAGS, answers(registry.npm_dist_tags))
    service.add(ARTIFACT_NPM_DIST_TAG_SET, changed(registry.npm_dist_tag_set, _npm_request))
    service.add(ARTIFACT_NPM_DIST_TAG_REMOVE, changed(registry.npm_dist_tag_remove, _npm_request))
    service.add(ARTIFACT_NPM_DEPRECATE, changed(registry.npm_deprecate, _deprecated))
    service.add(ARTIFACT_NPM_UNPUBLISH, changed(registry.npm_unpublish, _version))
    # The SupplyChainAgent's decisions about downloads, kept in this agent's own tables (and
    # announced to the edges, which keep file locations).
    policies = DownloadPolicyConsumer(pool, bus)
    runtime.consume(VERSION_BLOCK_CHANGED, policies.on_version_block_changed)
    runtime.consume(DOWNLOAD_POLICY_CHANGED, policies.on_download_policy_changed)
    runtime.consume(DOWNLOAD_OVERRIDE_CHANGED, policies.on_download_override_changed)
    # Upstream versions a team took are matched by the SupplyChainAgent: those recorded before that.
    runtime.every("upstream-announce", UPSTREAM_ANNOUNCE_SECONDS, registry.matching.announce_pending)
    # Downloads the edges answered from their cache, in batches (services/registry/download_counts.py).
    downloads = DownloadCounts(pool)
    runtime.consume(DOWNLOADS_COUNTED, downloads.on_downloads_counted)
    runtime.every("download-claims-prune", DOWNLOAD_CLAIMS_PRUNE_SECONDS, downloads.prune)


def _published(_request: Any, answer: PublishedArtifact) -> tuple[Ecosystem, str]:
    return answer.version.ecosystem, answer.version.name


def _version(_request: Any, answer: VersionInfo | DeletedArtifacts) -> tuple[Ecosystem, str]:
    return answer.ecosystem, answer.name


def _npm_request(request: NpmDistTagRequest, _answer: Any) -> tuple[Ecosystem, str]:
    return Ecosystem.NPM, request.name


def _deprecated(_request: Any, answer: NpmDeprecated) -> tuple[Ecosystem, str] | None:
    return (Ecosystem.NPM, answer.name) if answer.changed else None
