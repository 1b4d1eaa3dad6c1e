"""The registry's operations, joining the pure parts (rules, archives, metadata, pages) with the
store, the blob store and the bus. One method per endpoint of the ArtifactManagerAgent.

Every refusal is a `RegistryError` with a stable code, answered as a typed error (the edge turns it
into the client's own format) whose details carry the code. A refused publish leaves nothing: its
rows are rolled back and its blob is deleted unless another file references the same bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

import structlog
from pydantic import BaseModel

from services.registry import licenses, store, upstream_store
from services.registry import search as search_queries
from services.registry.delete_policy import DeletePolicy, check_delete
from services.registry.download_policy import (
    Quarantine,
    Quarantined,
    hidden_versions,
    quarantine_message,
    refuse_blocked,
)
from services.registry.ecosystems import RULES
from services.registry.ecosystems.interface import (
    ArchiveTooLarge,
    DigestMismatch,
    EcosystemRules,
    InvalidUpload,
    NotFound,
    PlanLimit,
    RegistryError,
)
from services.registry.python import metadata as pymeta
from services.registry.python import simple
from services.registry.python.upload import FileDigests, check_digests, check_form
from services.registry.python.upstream_pages import UpstreamFile
from services.registry.upstream import Upstream, Upstreams, UpstreamUnavailable
from services.registry.upstream_matching import UpstreamMatching
from shared.archives import ArchiveLimits
from shared.blobstore import BlobNotFound, BlobStore
from shared.bus.client import Bus, OutgoingEvent
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.db.outbox import Outbox
from shared.messages.artifacts import (
    ArtifactPublished,
    DeletedArtifacts,
    DeleteOverride,
    DeletePackageRequest,
    DeleteVersionRequest,
    Dependency,
    Ecosystem,
    FileInfo,
    FileLocation,
    FileRequest,
    PackageRef,
    PackageSummary,
    PackageVersions,
    PublishArtifact,
    PublishedArtifact,
    PythonPage,
    PythonPageRequest,
    SearchQuery,
    SearchResults,
    StoredVersions,
    StoredVersionsQuery,
    UpstreamVersion,
    VersionInfo,
    VersionRef,
    VersionSummary,
    YankRequest,
)
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission, allows
from shared.messages.registry import ARTIFACT_PUBLISHED
from shared.principals import team_with

log = structlog.get_logger("mno.registry")

# Uploads up to this size are inspected in memory; larger ones spill to a temporary file.
_SPOOL_BYTES = 8 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

_STATUS_OF_CODE: dict[str, ErrorCode] = {
    "not_found": ErrorCode.NOT_FOUND,
    "file_exists": ErrorCode.CONFLICT,
    "version_exists": ErrorCode.CONFLICT,
    "revision_conflict": ErrorCode.CONFLICT,
    "plan_limit": ErrorCode.PAYMENT_REQUIRED,
    "archive_too_large": ErrorCode.PAYLOAD_TOO_LARGE,
    "not_in_ecosystem": ErrorCode.VALIDATION_FAILED,
    "upstream_unavailable": ErrorCode.UNAVAILABLE,
    "upstream_digest_mismatch": ErrorCode.UNAVAILABLE,
    "upstream_too_large": ErrorCode.UNAVAILABLE,
    "blocked_by_policy": ErrorCode.FORBIDDEN,
    "quarantined": ErrorCode.FORBIDDEN,
    "policy_unavailable": ErrorCode.UNAVAILABLE,
    "delete_refused": ErrorCode.CONFLICT,
    "invalid_license_filter": ErrorCode.VALIDATION_FAILED,
    "unpublish_refused": ErrorCode.CONFLICT,
}

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


def as_agent_error(error: RegistryError) -> AgentError:
    """The typed error of a refusal: its code in the details (`type`), where clients read it."""
    return AgentError(
        _STATUS_OF_CODE.get(error.code, ErrorCode.BAD_REQUEST),
        f"{error.code}: {error.message}",
        [{"loc": "registry", "type": error.code, "message": error.message}],
    )


def answers(
    handler: Callable[[T, MessageContext], Awaitable[R]],
) -> Callable[[T, MessageContext], Awaitable[R]]:
    """A handler whose registry refusals leave as typed errors."""

    async def handle(request: T, ctx: MessageContext) -> R:
        try:
            return await handler(request, ctx)
        except RegistryError as error:
            raise as_agent_error(error) from None

    return handle


def _line(text: str | None, limit: int = 2000) -> str | None:
    """A one-line field from metadata: control characters become spaces (they have no place in a
    summary, and the wire's `Text` refuses them)."""
    if text is None:
        return None
    cleaned = _CONTROL.sub(" ", text).strip()[:limit]
    return cleaned or None


@dataclass(frozen=True, slots=True)
class RegistryLimits:
    max_upload_bytes: int
    archive: ArchiveLimits
    metadata_min_wheel_bytes: int = 0  # registry.metadata_min_wheel_bytes


class Registry:
    def __init__(self, pool: Any, blobs: BlobStore, bus: Bus, outbox: Outbox, limits: RegistryLimits) -> None:
        self._pool = pool
        self._blobs = blobs
        self._bus = bus
        # `artifact.published` leaves through the outbox: written with the rows it announces.
        self._outbox = outbox
        self._limits = limits
        # The public indexes behind the teams' own (none unless configured; the agent sets them).
        self.upstreams = Upstreams(())
        # Upstream versions under the teams' download policies (upstream_matching.py).
        self.matching = UpstreamMatching(pool, bus, outbox)

    @staticmethod
    def rules(ecosystem: Ecosystem) -> EcosystemRules:
        rules = RULES.get(ecosystem)
        if rules is None:
            raise NotFound(f"the {ecosystem.value} registry is not available yet")
        return rules

    async def _announce(
        self, conn: Any, event: ArtifactPublished, ctx: MessageContext, *, message_id: str
    ) -> OutgoingEvent:
        """Write `artifact.published` into the outbox, inside the transaction storing the file; the
        caller sends it (`self._outbox.send`) after the commit."""
        outgoing = self._bus.encode_event(ARTIFACT_PUBLISHED, event, ctx, message_id=message_id)
        await self._outbox.add(conn, outgoing, team_id=event.team_id)
        return outgoing

    # --- publish ------------------------------------------------------------------------------------

    async def publish(self, request: PublishArtifact, ctx: MessageContext) -> PublishedArtifact:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_PUBLISH)
        try:
            if request.ecosystem is not Ecosystem.PYPI:
                raise InvalidUpload(
                    f"publishing to the {request.ecosystem.value} registry is not available yet"
                )
            return await self._publish_python(team_id, request, ctx)
        except BaseException:
            # Nothing of a refused (or failed) publish stays: its rows rolled back, its bytes go
            # unless a published file holds the same content.
            await self._discard_blob(request.blob.sha256)
            raise

    async def _publish_python(
        self, team_id: str, request: PublishArtifact, ctx: MessageContext
    ) -> PublishedArtifact:
        rules = self.rules(Ecosystem.PYPI)
        filename = request.filename
        dist = pymeta.parse_filename(filename)
        if request.python is None:
            raise InvalidUpload("a Python upload needs twine's form fields")
        check_form(request.python, dist, filename)
        if request.blob.size > self._limits.max_upload_bytes:
            raise ArchiveTooLarge(f"{filename} is larger than {self._limits.max_upload_bytes} bytes")
        async with self._spooled(request.blob.sha256, request.blob.size) as (spool, digests):
            check_digests(request.python, digests)
            _listing, found = await asyncio.to_thread(
                pymeta.inspect_distribution, spool, dist, filename, self._limits.archive
            )
        meta = found.metadata
        rules.validate_name(meta.name)
        pymeta.check_agreement(filename, dist, meta)
        version = rules.normalize_version(str(meta.version))
        # The core metadata's bytes are stored while the transaction runs (its row needs only their
        # digest) and awaited before it commits: both wait on the disk, neither on the other.
        core_metadata_sha256 = hashlib.sha256(found.raw).hexdigest()
        storing = asyncio.ensure_future(
            self._blobs.put(_one_chunk(found.raw), expected_sha256=core_metadata_sha256)
        )
        try:
            return await self._record_python(
                team_id, request, ctx, dist, found, version, digests, core_metadata_sha256, storing
            )
        except BaseException:
            # A refused publish lets the store finish, then discards the core metadata as it does the
            # file: under the blob's lock, unless a committed row references the same bytes.
            await asyncio.gather(storing, return_exceptions=True)
            await self._discard_blob(core_metadata_sha256)
            raise
        finally:
            await asyncio.gather(storing, return_exceptions=True)

    async def _record_python(
        self,
        team_id: str,
        request: PublishArtifact,
        ctx: MessageContext,
        dist: pymeta.DistFilename,
        found: pymeta.PythonMetadata,
        version: str,
        digests: FileDigests,
        core_metadata_sha256: str,
        storing: asyncio.Future[Any],
    ) -> PublishedArtifact:
        rules = self.rules(Ecosystem.PYPI)
        filename = request.filename
        meta = found.metadata
        uploader = ctx.principal.user_id or ctx.principal.api_key_id
        file = FileInfo(
            filename=filename,
            size=request.blob.size,
            sha256=request.blob.sha256,
            digests={"md5": digests.md5, "blake2b_256": digests.blake2_256},
            kind=dist.kind,
            requires_python=_line(str(meta.requires_python)) if meta.requires_python else None,
            uploaded_at=_now(),
            uploaded_by=uploader,
            core_metadata_sha256=core_metadata_sha256,
        )
        fields = {
            "display_name": meta.name,
            "summary": _line(meta.summary, 512),
            "description": meta.description,
            "description_content_type": _line(meta.description_content_type),
            "license": _line(pymeta.license_of(meta), 200),
            "authors": [a for a in (_line(p) for p in pymeta.authors_of(meta)) if a],
            "homepage": _line(meta.home_page or pymeta.project_url(meta, "homepage", "home")),
            "repository": _line(pymeta.project_url(meta, "repository", "source", "sourcecode", "github")),
            "keywords": [k for k in (_line(w, 100) for w in meta.keywords or []) if k],
            "dynamic": pymeta.dynamic_of(meta, dist),
        }
        license_ids = pymeta.license_ids_of(meta)
        name = dist.name
        async with self._pool.acquire() as conn, conn.transaction():
            # The account's (plan quota), the package's and the bytes' locks, in that order, at once.
            await store.lock_publish(
                conn,
                request.quota.account_id if request.quota is not None else None,
                team_id,
                Ecosystem.PYPI,
                name,
                file.sha256,
            )
            if request.quota is not None:
                used = await store.storage_used(conn, request.quota.team_ids)
                if used + file.size > request.quota.max_bytes:
                    raise PlanLimit(
                        f"the {request.quota.plan} plan's artifact_storage_bytes ({request.quota.max_bytes}) "
                        f"would be exceeded: {used} stored, {file.size} more asked"
                    )
            package_id = await store.ensure_package(conn, team_id, Ecosystem.PYPI, name, meta.name)
            row = await store.get_version(conn, team_id, package_id, version)
            new_version = row is None
            if row is None:
                row = await store.insert_version(
                    conn,
                    team_id,
                    package_id,
                    version,
                    prerelease=rules.is_prerelease(version),
                    metadata=fields,
                    published_by=uploader,
                    license_ids=license_ids,
                )
                await store.insert_dependencies(conn, team_id, Ecosystem.PYPI, row.id, found.dependencies)
            elif dist.kind == "wheel" and await _sdists_only(conn, team_id, row.id):
                # The version's first wheel: its metadata becomes the version's. An sdist's PKG-INFO
                # may leave fields to the build (metadata 2.2's `Dynamic: Requires-Dist`; before 2.2
                # nothing said which), and the wheel's is what installers read.
                row = await store.replace_version_metadata(
                    conn,
                    team_id,
                    row.id,
                    Ecosystem.PYPI,
                    metadata=fields,
                    license_ids=license_ids,
                    dependencies=found.dependencies,
                )
            if not await self._blobs.exists(file.sha256):
                # Another publish of the same bytes was refused and took the blob with it meanwhile.
                raise AgentError(ErrorCode.UNAVAILABLE, "the upload's bytes are gone; upload it again")
            stored = await store.insert_file(conn, team_id, Ecosystem.PYPI, row.id, file)
            await self._refresh(conn, team_id, rules, package_id)
            # A new version's dependencies and only file were written just now: not read back.
            written = (list(found.dependencies), [stored]) if new_version else None
            info = await self._version_info(conn, team_id, rules, Ecosystem.PYPI, name, row, written=written)
            # Announced with the rows: the event is written to the outbox in this transaction (a
            # rolled-back publish announces nothing) and sent once they are committed.
            outgoing = await self._announce(
                conn,
                ArtifactPublished(
                    team_id=team_id,
                    ecosystem=Ecosystem.PYPI,
                    name=name,
                    version=version,
                    purl=info.purl,
                    file=stored,
                    dependencies=info.dependencies,
                ),
                ctx,
                message_id=_event_id(team_id, Ecosystem.PYPI, name, version, filename),
            )
            # The file's core metadata is on disk before the row naming it commits, and stays: under
            # its blob's lock, so a refused publish of the same bytes cannot remove it meanwhile (if
            # one did before, it is stored again).
            await store.lock_blob(conn, core_metadata_sha256)
            await storing
            if not await self._blobs.exists(core_metadata_sha256):
                await self._blobs.put(_one_chunk(found.raw), expected_sha256=core_metadata_sha256)
        # Sent after the commit, without keeping the client waiting for JetStream's ack (the relay
        # sends what this does not).
        self._outbox.send_soon(outgoing)
        log.info("artifact published", ecosystem="pypi", name=name, version=version, filename=filename)
        return PublishedArtifact(version=info, file=stored, new_version=new_version)

    @contextlib.asynccontextmanager
    async def _spooled(self, sha256: str, size: int) -> AsyncIterator[tuple[IO[bytes], FileDigests]]:
        """The blob in a local (spooled) file for the archive readers, with its digests, checked
        against the reference (the store's bytes must be the ones the edge hashed)."""
        sha256_hash = hashlib.sha256()
        md5_hash = hashlib.md5(usedforsecurity=False)
        blake = hashlib.blake2b(digest_size=32)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            read = 0
            try:
                async for chunk in self._blobs.open(sha256):
                    read += len(chunk)
                    if read > size:
                        break
                    sha256_hash.update(chunk)
                    md5_hash.update(chunk)
                    blake.update(chunk)
                    spool.write(chunk)
            except BlobNotFound:
                raise InvalidUpload("the uploaded file is not in the blob store") from None
            digests = FileDigests(sha256_hash.hexdigest(), md5_hash.hexdigest(), blake.hexdigest())
            if read != size or digests.sha256 != sha256:
                raise DigestMismatch("the stored bytes do not match the upload's reference")
            spool.seek(0)
            yield spool, digests

    async def _discard_blob(self, sha256: str) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await store.lock_blob(conn, sha256)
                if not await store.blob_referenced(conn, sha256):
                    await self._blobs.delete(sha256)
        except Exception:
            log.exception("could not remove a refused upload's blob", sha256=sha256)

    async def _refresh(self, conn: Any, team_id: str, rules: EcosystemRules, package_id: int) -> None:
        """Latest and stable by the ecosystem's ordering (yanked versions left out, as installers
        do), and the search document of the latest version."""
        versions = await store.list_versions(conn, team_id, package_id)
        live = [v.version for v in versions if not v.yanked]
        latest = rules.latest(live)
        stable = rules.latest(live, stable_only=True)
        newest = latest or rules.latest([v.version for v in versions])
        shown = next((v for v in versions if v.version == newest), None)
        meta = shown.metadata if shown is not None else {}
        await store.refresh_package(
            conn,
            package_id,
            display_name=meta.get("display_name") or "",
            latest=latest,
            stable=stable,
            summary=meta.get("summary"),
            license=meta.get("license"),
            keywords=meta.get("keywords") or [],
            description=meta.get("description"),
            # None (not normalised yet) follows: the licence backfill fills the package after it.
            license_ids=shown.license_ids if shown is not None else [],
        )

    async def _version_info(
        self,
        conn: Any,
        team_id: str,
        rules: EcosystemRules,
        ecosystem: Ecosystem,
        name: str,
        row: store.VersionRow,
        *,
        written: tuple[list[Dependency], list[FileInfo]] | None = None,
    ) -> VersionInfo:
        """The version as the API shows it; `written`: its dependencies and files when the caller
        has just written them all (a new version's publish), so they are not read back."""
        meta = row.metadata
        if written is not None:
            dependencies, files = sorted(written[0], key=lambda d: d.name), written[1]
        else:
            dependencies = await store.version_dependencies(conn, team_id, row.id)
            files = await store.version_files(conn, team_id, row.id)
        return VersionInfo(
            ecosystem=ecosystem,
            name=name,
            display_name=meta.get("display_name") or name,
            version=row.version,
            summary=meta.get("summary"),
            description=meta.get("description"),
            description_content_type=meta.get("description_content_type"),
            license=meta.get("license"),
            license_ids=row.license_ids or [],
            authors=meta.get("authors") or [],
            homepage=meta.get("homepage"),
            repository=meta.get("repository"),
            keywords=meta.get("keywords") or [],
            dependencies=dependencies,
            files=files,
            purl=rules.purl(name, row.version),
            published_at=row.published_at,
            published_by=row.published_by,
            yanked=row.yanked,
            yanked_reason=row.yanked_reason,
            deprecated=meta.get("deprecated"),
            dynamic=meta.get("dynamic") or [],
        )

    # --- the package clients' reads -----------------------------------------------------------------

    async def python_page(self, request: PythonPageRequest, ctx: MessageContext) -> PythonPage:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_READ)
        rules = self.rules(Ecosystem.PYPI)
        # A client that accepts nothing we offer still gets HTML, the format every installer reads.
        media = simple.negotiate(request.accept) or simple.TEXT_HTML
        async with self._pool.acquire() as conn:
            if request.project is None:
                projects = await store.projects(conn, team_id, Ecosystem.PYPI)
                return PythonPage(media_type=media, body=simple.index_page(projects, media), cacheable=True)
            name = rules.normalize_name(request.project)
            package = await store.get_package(conn, team_id, Ecosystem.PYPI, name)
            if package is None:
                # Only a name the team has never published reaches the upstream (dependency
                # confusion): a deleted package's name stays the team's.
                proxied = self.upstreams.for_team(team_id, "pypi") is not None
                if proxied and await upstream_store.name_is_private(conn, team_id, Ecosystem.PYPI, name):
                    raise NotFound("no such project in this index")
                if request.project != name and proxied:
                    return PythonPage(media_type=media, body="", canonical=name)
                return await self._upstream_page(team_id, name, media)
            if request.project != name:
                return PythonPage(media_type=media, body="", canonical=name, cacheable=True)
            rows = await store.package_files(conn, team_id, package.id)
            versions = await store.list_versions(conn, team_id, package.id)
        files = [
            simple.SimpleFile(
                filename=f.filename,
                sha256=f.sha256,
                size=f.size,
                uploaded_at=f.uploaded_at,
                requires_python=f.requires_python,
                yanked=v.yanked,
                yanked_reason=v.yanked_reason,
                core_metadata_sha256=simple.offered_metadata(
                    f.filename, f.size, f.core_metadata_sha256, self._limits.metadata_min_wheel_bytes
                ),
            )
            for v, f in rows
        ]
        ordered = sorted((v.version for v in versions), key=rules.parse_version)
        return PythonPage(
            media_type=media, body=simple.project_page(name, ordered, files, media), cacheable=True
        )

    async def _upstream_listing(
        self, team_id: str, upstream: Upstream, name: str
    ) -> list[UpstreamFile] | None:
        """The upstream's files of a project. When the upstream cannot be reached (and no page of it is
        held), the files the team already took from it and still holds: installs that worked keep
        working through an upstream outage or an agent restart during one."""
        try:
            return await self.upstreams.project_files(upstream, name)
        except UpstreamUnavailable:
            async with self._pool.acquire() as conn:
                kept = await upstream_store.cached_files(conn, team_id, Ecosystem.PYPI, upstream.name, name)
            held = [(filename, f) for filename, f in kept.items() if await self._blobs.exists(f.sha256)]
            if not held:
                raise
            log.warning(
                "upstream unreachable: serving the files cached from it",
                upstream=upstream.name,
                project=name,
                files=len(held),
            )
            return [
                UpstreamFile(
                    filename=filename,
                    url="",
                    sha256=f.upstream_digest,
                    size=f.size,
                    requires_python=None,
                    yanked=False,
                    yanked_reason=None,
                )
                for filename, f in held
            ]

    async def _upstream_page(self, team_id: str, name: str, media: str) -> PythonPage:
        upstream = self.upstreams.for_team(team_id, "pypi")
        files = await self._upstream_listing(team_id, upstream, name) if upstream is not None else None
        if not files or upstream is None:
            raise NotFound("no such project in this index")
        quarantine = await self._quarantine(team_id, upstream.name, name, files)
        # A quarantined version is left off the page entirely: installers pick among the others (or
        # fail to resolve), as if the upstream had not published it yet.
        files = [f for f in files if _file_version(f.filename) not in quarantine.hidden]
        if not files:
            raise NotFound("no version of this project is out of your team's quarantine yet")
        versions = {v for v in map(_file_version, (f.filename for f in files)) if v is not None}
        rules = self.rules(Ecosystem.PYPI)
        page = [
            simple.SimpleFile(
                filename=f.filename,
                sha256=f.sha256,
                size=f.size,
                uploaded_at=None,
                requires_python=f.requires_python,
                yanked=f.yanked,
                yanked_reason=f.yanked_reason,
                core_metadata_sha256=None,
            )
            for f in files
        ]
        ordered = sorted(versions, key=rules.parse_version)
        return PythonPage(media_type=media, body=simple.project_page(name, ordered, page, media))

    async def _upstream_file(
        self, conn: Any, team_id: str, request: FileRequest, ctx: MessageContext
    ) -> FileLocation:
        """A file of a project the team has not published, from the upstream's listing: checked
        against the team's quarantine and download policy, fetched into the blob store the first
        time, served from it afterwards."""
        upstream = self.upstreams.for_team(team_id, "pypi")
        if upstream is None or request.ecosystem is not Ecosystem.PYPI or request.core_metadata:
            raise NotFound("no such file in this index")
        try:
            name = self.rules(Ecosystem.PYPI).normalize_name(pymeta.parse_filename(request.filename).name)
        except RegistryError:
            raise NotFound("no such file in this index") from None
        if await upstream_store.name_is_private(conn, team_id, Ecosystem.PYPI, name):
            # A privately published name (or a deleted one): none of the upstream's files, not even
            # versions ours lacks.
            raise NotFound("no such file in this index")
        files = await self._upstream_listing(team_id, upstream, name) or []
        listed = next(
            (f for f in files if f.filename == request.filename and f.sha256 == request.sha256), None
        )
        if listed is None:
            raise NotFound("no such file in this index")
        quarantine = await self._quarantine(team_id, upstream.name, name, files, conn)
        version = _file_version(listed.filename)
        if version is not None and version in quarantine.hidden:
            raise Quarantined(quarantine_message(name, version, quarantine.hidden[version], quarantine.days))
        taken = (
            UpstreamVersion(
                team_id=team_id,
                ecosystem=Ecosystem.PYPI,
                upstream=upstream.name,
                name=name,
                version=version,
                filename=listed.filename,
                sha256=listed.sha256,
            )
            if version is not None
            else None
        )
        if taken is not None:
            # Before any byte is fetched: blocked by the team's policy, as its own versions are.
            await self.matching.check(conn, taken, ctx)
        if await self._blobs.exists(listed.sha256):
            blob = await self._blobs.stat(listed.sha256)
        else:
            blob = await self.upstreams.fetch_into(upstream, listed, self._blobs)
            log.info("upstream file cached", upstream=upstream.name, filename=listed.filename)
        # The team's row of the file (upstream_files, as npm's upstream tarballs have): its downloads
        # counted as a private file's are, and the blob kept from removal as unreferenced.
        matched = None
        async with conn.transaction():
            # Serialised with a refused upload removing a blob of the same bytes (content-addressed).
            await store.lock_blob(conn, blob.sha256)
            if not await self._blobs.exists(blob.sha256):
                raise UpstreamUnavailable(f"{listed.filename} was removed while it was cached; ask again")
            cached = await upstream_store.cached_file(
                conn, team_id, Ecosystem.PYPI, upstream.name, name, listed.filename
            )
            if cached is None or cached.sha256 != blob.sha256:
                await upstream_store.record_file(
                    conn,
                    team_id,
                    Ecosystem.PYPI,
                    upstream.name,
                    name=name,
                    version=version or "",
                    filename=listed.filename,
                    sha256=blob.sha256,
                    size=blob.size,
                    upstream_digest=listed.sha256,
                    announced=cached is None and taken is not None,
                )
            if cached is None and taken is not None:
                # The version is matched against the advisories (and re-matched as they change).
                matched = await self.matching.recorded(conn, taken, ctx)
            await upstream_store.count_download(
                conn, team_id, Ecosystem.PYPI, upstream.name, name, listed.filename
            )
        if matched is not None:
            self.matching.send_soon(matched)
        return FileLocation(
            filename=listed.filename,
            blob_sha256=blob.sha256,
            size=blob.size,
            content_type="application/octet-stream",
        )

    async def _quarantine(
        self, team_id: str, upstream: str, name: str, files: list[UpstreamFile], conn: Any = None
    ) -> Quarantine:
        """The team's quarantine over an upstream project's versions; a version's upload instant is
        its earliest file's (a wheel added later does not make the version new again)."""
        uploaded: dict[str, datetime | None] = {}
        for f in files:
            version = _file_version(f.filename)
            if version is None:
                continue
            held = uploaded.get(version, f.uploaded_at)
            uploaded[version] = None if held is None or f.uploaded_at is None else min(held, f.uploaded_at)
        if conn is not None:
            return await hidden_versions(conn, team_id, upstream, Ecosystem.PYPI, name, uploaded)
        async with self._pool.acquire() as held_conn:
            return await hidden_versions(held_conn, team_id, upstream, Ecosystem.PYPI, name, uploaded)

    async def file(self, request: FileRequest, ctx: MessageContext) -> FileLocation:
        """Where a file's (or its core metadata's) bytes are, for the edge to stream. A file of the
        team's own is found, checked against the team's download policy and counted in one
        statement; the answer may be kept at the edge (`cacheable`), which then counts the downloads
        it answers itself against `file_id` (`DownloadsCounted`)."""
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_READ)
        async with self._pool.acquire() as conn:
            found = await store.resolve_file(
                conn,
                team_id,
                request.ecosystem,
                request.filename,
                sha256=request.sha256,
                count=not request.core_metadata,
            )
            if found is None and request.sha256 is not None:
                return await self._upstream_file(conn, team_id, request, ctx)
        if found is None or (request.sha256 is not None and found.file.sha256 != request.sha256):
            raise NotFound("no such file in this index")
        file = found.file
        if request.core_metadata:
            if file.core_metadata_sha256 is None:
                raise NotFound("no core metadata for this file")
            blob = await self._blobs.stat(file.core_metadata_sha256)
            return FileLocation(
                filename=f"{file.filename}.metadata",
                blob_sha256=blob.sha256,
                size=blob.size,
                content_type="text/plain; charset=utf-8",
                cacheable=True,
            )
        refuse_blocked(found)
        return FileLocation(
            filename=file.filename,
            blob_sha256=file.sha256,
            size=file.size,
            content_type="application/octet-stream",
            cacheable=True,
            file_id=found.id,
        )

    # --- the REST API -------------------------------------------------------------------------------

    async def _package_and_version(
        self, conn: Any, team_id: str, ref: VersionRef | DeleteVersionRequest
    ) -> tuple[EcosystemRules, store.PackageRow, store.VersionRow]:
        rules = self.rules(ref.ecosystem)
        name = rules.normalize_name(ref.name)
        package = await store.get_package(conn, team_id, ref.ecosystem, name)
        if package is None:
            raise NotFound(f"no such {ref.ecosystem.value} package")
        try:
            version = rules.normalize_version(ref.version)
        except RegistryError:
            raise NotFound("no such version of this package") from None
        row = await store.get_version(conn, team_id, package.id, version)
        if row is None:
            raise NotFound("no such version of this package")
        return rules, package, row

    async def version(self, request: VersionRef, ctx: MessageContext) -> VersionInfo:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_READ)
        async with self._pool.acquire() as conn:
            rules, package, row = await self._package_and_version(conn, team_id, request)
            return await self._version_info(conn, team_id, rules, request.ecosystem, package.name, row)

    async def yank(self, request: YankRequest, ctx: MessageContext) -> VersionInfo:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_YANK)
        ref = VersionRef(ecosystem=request.ecosystem, name=request.name, version=request.version)
        return await self._set_yanked(team_id, ref, True, request.reason)

    async def unyank(self, request: VersionRef, ctx: MessageContext) -> VersionInfo:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_YANK)
        return await self._set_yanked(team_id, request, False, None)

    async def _set_yanked(
        self, team_id: str, ref: VersionRef, yanked: bool, reason: str | None
    ) -> VersionInfo:
        async with self._pool.acquire() as conn, conn.transaction():
            rules, package, row = await self._package_and_version(conn, team_id, ref)
            await store.lock_package(conn, team_id, ref.ecosystem, package.name)
            await store.set_yanked(conn, team_id, row.id, yanked, reason)
            await self._refresh(conn, team_id, rules, package.id)
            updated = await store.get_version(conn, team_id, package.id, row.version)
            assert updated is not None
            return await self._version_info(conn, team_id, rules, ref.ecosystem, package.name, updated)

    async def delete(self, request: DeleteVersionRequest, ctx: MessageContext) -> DeletedArtifacts:
        team_id = _deleting_team(ctx, request.force)
        async with self._pool.acquire() as conn, conn.transaction():
            rules, package, row = await self._package_and_version(conn, team_id, request)
            await store.lock_package(conn, team_id, request.ecosystem, package.name)
            overridden = await self._check_delete(conn, team_id, package, [row], force=request.force)
            files = await store.delete_version(conn, team_id, row.id)
            remaining = await store.list_versions(conn, team_id, package.id)
            await self._version_deleted(
                conn, team_id, package, row.version, [v.version for v in remaining], ctx
            )
            if remaining:
                await self._refresh(conn, team_id, rules, package.id)
            else:
                await store.delete_package(conn, team_id, package.id)
        await self._discard_files(files)
        if overridden:
            log.warning(
                "delete policy overridden", name=package.name, version=row.version, rules=_rules(overridden)
            )
        return DeletedArtifacts(
            ecosystem=request.ecosystem,
            name=package.name,
            versions=[row.version],
            files=[f.filename for f in files],
            overridden=overridden,
        )

    async def _version_deleted(
        self,
        conn: Any,
        team_id: str,
        package: store.PackageRow,
        version: str,
        remaining: list[str],
        ctx: MessageContext,
    ) -> None:
        """What an ecosystem keeps beside the versions (npm: dist-tags) follows a deleted version,
        inside the deleting transaction, before the package's derived columns are refreshed."""

    async def _check_delete(
        self,
        conn: Any,
        team_id: str,
        package: store.PackageRow,
        rows: list[store.VersionRow],
        *,
        force: bool = False,
    ) -> list[DeleteOverride]:
        """The delete policy (`delete_policy.py`; npm overrides it with its unpublish policy), under
        the package's lock, before anything is deleted: raises its refusal, or with `force` returns
        what it overrode."""
        now, policy = _now(), DeletePolicy()
        if all(now - r.published_at <= policy.window for r in rows):
            return []  # within the window: no need to count dependents
        dependents = await store.dependents(conn, team_id, package.ecosystem, package.name, package.id)
        published = [(r.version, r.published_at) for r in rows]
        refused = check_delete(package.name, published, dependents, now, policy, force=force)
        if refused is None:
            return []
        return [DeleteOverride(code=refused.code, rule=refused.rule, message=refused.message)]

    async def delete_package(self, request: DeletePackageRequest, ctx: MessageContext) -> DeletedArtifacts:
        team_id = _deleting_team(ctx, request.force)
        rules = self.rules(request.ecosystem)
        name = rules.normalize_name(request.name)
        files: list[FileInfo] = []
        async with self._pool.acquire() as conn, conn.transaction():
            package = await store.get_package(conn, team_id, request.ecosystem, name)
            if package is None:
                raise NotFound(f"no such {request.ecosystem.value} package")
            await store.lock_package(conn, team_id, request.ecosystem, name)
            versions = await store.list_versions(conn, team_id, package.id)
            overridden = await self._check_delete(conn, team_id, package, versions, force=request.force)
            for row in versions:
                files.extend(await store.delete_version(conn, team_id, row.id))
                await self._version_deleted(conn, team_id, package, row.version, [], ctx)
            await store.delete_package(conn, team_id, package.id)
        await self._discard_files(files)
        if overridden:
            log.warning("delete policy overridden", name=name, rules=_rules(overridden))
        return DeletedArtifacts(
            ecosystem=request.ecosystem,
            name=name,
            versions=rules.newest_first([v.version for v in versions]),
            files=[f.filename for f in files],
            overridden=overridden,
        )

    async def _discard_files(self, files: list[FileInfo]) -> None:
        for file in files:
            await self._discard_blob(file.sha256)
            if file.core_metadata_sha256:
                await self._discard_blob(file.core_metadata_sha256)

    async def versions(self, request: PackageRef, ctx: MessageContext) -> PackageVersions:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_READ)
        rules = self.rules(request.ecosystem)
        name = rules.normalize_name(request.name)
        async with self._pool.acquire() as conn:
            package = await store.get_package(conn, team_id, request.ecosystem, name)
            if package is None:
                raise NotFound(f"no such {request.ecosystem.value} package")
            rows = await store.list_versions(conn, team_id, package.id)
            counts = {row.id: len(await store.version_files(conn, team_id, row.id)) for row in rows}
        ordered = sorted(rows, key=lambda r: rules.parse_version(r.version), reverse=True)
        return PackageVersions(
            package=_summary(package),
            versions=[
                VersionSummary(
                    version=r.version,
                    published_at=r.published_at,
                    yanked=r.yanked,
                    yanked_reason=r.yanked_reason,
                    prerelease=r.prerelease,
                    files=counts[r.id],
                )
                for r in ordered
            ],
        )

    async def search(self, request: SearchQuery, ctx: MessageContext) -> SearchResults:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_READ)
        depends_on: list[str] | None = None
        if request.depends_on is not None:
            # Dependencies are stored under their ecosystem's form of the name: without an ecosystem,
            # each ecosystem's form of the name asked (`Acme_Lib` finds Python's `acme-lib`).
            asked = [request.ecosystem] if request.ecosystem is not None else list(RULES)
            forms = {RULES[e].normalize_name(request.depends_on) for e in asked if e in RULES}
            depends_on = sorted(forms or {request.depends_on})
        query = request.q.strip().lower() if request.q else None
        license_alternatives = licenses.license_filter(request.license) if request.license else None
        async with self._pool.acquire() as conn:
            rows, total, estimated = await store.search(
                conn,
                team_id,
                query=query,
                tsquery=search_queries.tsquery_of(request.q),
                name_tsquery=search_queries.tsquery_of(request.q, weights="A"),
                ecosystem=request.ecosystem,
                license=request.license,
                license_alternatives=license_alternatives,
                depends_on=depends_on,
                limit=request.limit,
                offset=request.offset,
            )
        following = request.offset + len(rows)
        return SearchResults(
            items=[_summary(r) for r in rows],
            total=total,
            total_is_estimate=estimated,
            next_offset=following if following < total else None,
        )

    async def stored_versions(self, request: StoredVersionsQuery, ctx: MessageContext) -> StoredVersions:
        """Every team's versions after `request.after` (by row id), each as its publish event described
        it: for agents only (the SupplyChainAgent's SBOM backfill), never for a team's key."""
        if ctx.principal is None or "system" not in ctx.principal.roles:
            raise AgentError(ErrorCode.FORBIDDEN, "every team's versions are listed for agents only")
        items: list[ArtifactPublished] = []
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT v.id, v.team_id::text AS team_id, p.ecosystem, p.name, v.version "
                f"FROM {store.S}.versions v JOIN {store.S}.packages p ON p.id = v.package_id "
                "WHERE v.id > $1 ORDER BY v.id LIMIT $2",
                request.after,
                request.limit,
            )
            for row in rows:
                ecosystem = Ecosystem(row["ecosystem"])
                files = await store.version_files(conn, row["team_id"], row["id"])
                if not files or ecosystem not in RULES:
                    continue
                items.append(
                    ArtifactPublished(
                        team_id=row["team_id"],
                        ecosystem=ecosystem,
                        name=row["name"],
                        version=row["version"],
                        purl=self.rules(ecosystem).purl(row["name"], row["version"]),
                        file=files[0],
                        dependencies=await store.version_dependencies(conn, row["team_id"], row["id"]),
                    )
                )
        full = len(rows) == request.limit
        return StoredVersions(items=items, next_after=rows[-1]["id"] if full else None)


async def _sdists_only(conn: Any, team_id: str, version_id: int) -> bool:
    return all(f.kind == "sdist" for f in await store.version_files(conn, team_id, version_id))


def _deleting_team(ctx: MessageContext, force: bool) -> str:
    """The team of a REST delete's caller, who holds `artifacts:delete`, and for `force` also
    `artifacts:delete_override` (asked before anything is read: whether a refusal would have
    happened is no reason to let a caller without the grant ask for it)."""
    team_id = team_with(ctx.principal, Permission.ARTIFACTS_DELETE)
    if force and (ctx.principal is None or not allows(ctx.principal, Permission.ARTIFACTS_DELETE_OVERRIDE)):
        raise AgentError(
            ErrorCode.FORBIDDEN,
            f"force=true overrides the delete policy: it needs the "
            f"{Permission.ARTIFACTS_DELETE_OVERRIDE.value} permission (owners and admins)",
        )
    return team_id


def _rules(overridden: list[DeleteOverride]) -> list[str]:
    return sorted({o.rule for o in overridden})


def _summary(row: store.PackageRow) -> PackageSummary:
    return PackageSummary(
        ecosystem=row.ecosystem,
        name=row.name,
        display_name=row.display_name,
        latest=row.latest,
        stable=row.stable,
        summary=row.summary,
        license=row.license,
        license_ids=row.license_ids or [],
        keywords=row.keywords,
        versions=row.versions,
        downloads=row.downloads,
        updated_at=row.updated_at,
    )


def _file_version(filename: str) -> str | None:
    """The normalised version a Python file's name carries; None for a name that carries none."""
    try:
        return str(pymeta.parse_filename(filename).version)
    except RegistryError:
        return None


def _event_id(team_id: str, ecosystem: Ecosystem, name: str, version: str, filename: str) -> str:
    # A digest of the file's identity: the same file published twice is one event in the stream's
    # duplicate window, and its text stays within what a header may carry.
    identity = "\n".join((team_id, ecosystem.value, name, version, filename))
    return "artifact-published-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _now() -> datetime:
    return datetime.now(UTC)
