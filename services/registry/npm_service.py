"""The npm registry's operations (`npm publish`, packuments, tarballs, dist-tags, deprecate,
unpublish) over the same store, blob store and bus as the Python registry, whose helpers it shares
(publishing leaves nothing on refusal; latest/stable and the search document are refreshed alike).

Deprecation is yank-like (it marks versions for installers without removing them): it needs
`artifacts:yank`. dist-tags move what installs get: `artifacts:publish`, as npmjs asks of a
maintainer. Unpublishing removes versions: `artifacts:delete`, and the unpublish policy.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import structlog

from services.registry import npm_store, store
from services.registry.download_policy import refuse_blocked
from services.registry.ecosystems.interface import InvalidUpload, NotFound, PlanLimit, RegistryError
from services.registry.ecosystems.npm import NPM, split_scope
from services.registry.npm import dist_tags as tags
from services.registry.npm.deprecate import parse_deprecation
from services.registry.npm.manifest import dependencies_of, license_ids_of, version_fields
from services.registry.npm.packument import (
    README_MAX_CHARS,
    NpmPackageRecord,
    NpmVersionRecord,
    abbreviated_packument,
    full_packument,
    revision,
    tarball_filename,
)
from services.registry.npm.publish import InvalidPublish, check_tarball, parse_publish_document
from services.registry.npm.unpublish import (
    UnpublishFacts,
    UnpublishPolicy,
    UnpublishRefused,
    unpublish_refusal,
)
from services.registry.npm_upstream import NpmUpstreamProxy
from services.registry.service import Registry, RegistryLimits, _event_id, _now
from shared.blobstore import BlobStore
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.db.outbox import Outbox
from shared.messages.artifacts import (
    ArtifactPublished,
    DeletedArtifacts,
    DeleteOverride,
    Ecosystem,
    FileInfo,
    FileLocation,
    NpmDeprecated,
    NpmDeprecateRequest,
    NpmDistTagRequest,
    NpmDistTags,
    NpmDocument,
    NpmPackageRequest,
    NpmPackumentRequest,
    NpmPublishRequest,
    NpmTarballRequest,
    NpmUnpublishRequest,
    PublishedArtifact,
    VersionInfo,
    YankRequest,
)
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.principals import team_with

log = structlog.get_logger("mno.registry.npm")

NPM_ECOSYSTEM = Ecosystem.NPM
# What a refusal of the unpublish policy adds: how an owner or admin deletes the version anyway.
_FORCE_HINT = "(an owner or admin may override this with force=true)"
_UNPUBLISH_HINT = (
    "(an owner or admin may delete it anyway with DELETE /api/v1/registry/packages/npm/<name>"
    "/versions/<version>?force=true)"
)


class VersionExists(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("version_exists", message)


class RevisionConflict(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("revision_conflict", message)


def _document(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidPublish("the document is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidPublish("the document must be a JSON object")
    return body


class NpmRegistry(Registry):
    def __init__(
        self,
        pool: Any,
        blobs: BlobStore,
        bus: Bus,
        outbox: Outbox,
        limits: RegistryLimits,
        unpublish_policy: UnpublishPolicy | None = None,
    ) -> None:
        super().__init__(pool, blobs, bus, outbox, limits)
        self._unpublish_policy = unpublish_policy or UnpublishPolicy()

    async def yank(self, request: YankRequest, ctx: MessageContext) -> VersionInfo:
        """npm has no yank. Mapping it to a deprecation was rejected: npm still installs a deprecated
        version (a yank hides it), and unyank would erase a deprecation set with `npm deprecate`.
        Unyank stays, so a version yanked before this refusal can be brought back."""
        if request.ecosystem is NPM_ECOSYSTEM:
            raise RegistryError(
                "not_in_ecosystem",
                "npm has no yank: deprecate the version instead "
                f'(`npm deprecate {request.name}@{request.version} "<message>"`), or delete it',
            )
        return await super().yank(request, ctx)

    async def _version_deleted(
        self,
        conn: Any,
        team_id: str,
        package: store.PackageRow,
        version: str,
        remaining: list[str],
        ctx: MessageContext,
    ) -> None:
        """A version deleted through the REST API leaves the dist-tags as `npm unpublish` does, and
        its name@version is never reused (npm's rule, kept for unpublish too)."""
        if package.ecosystem is not NPM_ECOSYSTEM:
            return
        state = await npm_store.package_state(conn, team_id, package.id)
        if state is not None and remaining:
            retagged = tags.retarget_after_unpublish(state.dist_tags, version, remaining)
            await npm_store.save_package(conn, team_id, package.id, dist_tags=retagged)
        by = (ctx.principal.user_id or ctx.principal.api_key_id) if ctx.principal is not None else None
        await npm_store.record_unpublished(conn, team_id, package.name, version, by)

    async def _check_delete(
        self,
        conn: Any,
        team_id: str,
        package: store.PackageRow,
        rows: list[store.VersionRow],
        *,
        force: bool = False,
    ) -> list[DeleteOverride]:
        """A REST delete of npm versions is an unpublish: npm's unpublish policy applies, as to
        `npm unpublish` (72 h, dependents, downloads), refused with `unpublish_refused`; `force`
        overrides it, each version's refusal returned for the audit log."""
        if package.ecosystem is not NPM_ECOSYSTEM:
            return await super()._check_delete(conn, team_id, package, rows, force=force)
        deleted = {r.id for r in rows}
        now = datetime.now(UTC)
        dependents = await npm_store.dependents(conn, team_id, package.name, package.id)
        overridden: list[DeleteOverride] = []
        for state in await npm_store.versions(conn, team_id, package.id):
            if state.version_id not in deleted:
                continue
            facts = UnpublishFacts(
                published_at=state.published_at, dependents=dependents, weekly_downloads=state.downloads
            )
            refused = unpublish_refusal(facts, now, self._unpublish_policy)
            if refused is None:
                continue
            if not force:
                raise UnpublishRefused(f"{refused.message} {_FORCE_HINT}", refused.rule)
            overridden.append(
                DeleteOverride(
                    code=refused.code, rule=refused.rule, message=refused.message, version=state.version
                )
            )
        return overridden

    # --- publish ------------------------------------------------------------------------------------

    async def npm_publish(self, request: NpmPublishRequest, ctx: MessageContext) -> PublishedArtifact:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_PUBLISH)
        try:
            return await self._publish_npm(team_id, request, ctx)
        except BaseException:
            await self._discard_blob(request.blob.sha256)
            raise

    async def _publish_npm(
        self, team_id: str, request: NpmPublishRequest, ctx: MessageContext
    ) -> PublishedArtifact:
        document = parse_publish_document(
            _document(request.document),
            request.name,
            max_tarball_bytes=self._limits.max_upload_bytes,
            with_data=False,
        )
        if document.length != request.blob.size:
            raise InvalidPublish(
                f"attachment decodes to {request.blob.size} bytes, its length says {document.length}"
            )
        async with self._spooled(request.blob.sha256, request.blob.size) as (spool, _digests):
            facts = await asyncio.to_thread(check_tarball, document, spool, self._limits.archive)
        name, version = document.name, document.version
        uploader = ctx.principal.user_id or ctx.principal.api_key_id
        readme = document.readme[:README_MAX_CHARS] if document.readme else None
        file = FileInfo(
            filename=document.attachment_name,
            size=request.blob.size,
            sha256=facts.sha256,
            digests={"sha512": facts.integrity, "sha1": facts.shasum},
            kind="tarball",
            uploaded_at=_now(),
            uploaded_by=uploader,
        )
        dependencies = dependencies_of(document.manifest)
        async with self._pool.acquire() as conn, conn.transaction():
            # The account's (plan quota), the package's and the bytes' locks, in that order, at once.
            await store.lock_publish(
                conn,
                request.quota.account_id if request.quota is not None else None,
                team_id,
                NPM_ECOSYSTEM,
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
            gone = await npm_store.unpublished_at(conn, team_id, name, version)
            if gone is not None:
                raise VersionExists(
                    f"{name}@{version} was unpublished on {gone:%Y-%m-%d}; a version number is never reused"
                )
            package_id = await store.ensure_package(conn, team_id, NPM_ECOSYSTEM, name, name)
            if await store.get_version(conn, team_id, package_id, version) is not None:
                raise VersionExists(f"You cannot publish over the previously published versions: {version}.")
            row = await store.insert_version(
                conn,
                team_id,
                package_id,
                version,
                prerelease=NPM.is_prerelease(version),
                metadata=version_fields(document.manifest, readme),
                published_by=uploader,
                license_ids=license_ids_of(document.manifest),
            )
            await store.insert_dependencies(conn, team_id, NPM_ECOSYSTEM, row.id, dependencies)
            if not await self._blobs.exists(file.sha256):
                raise AgentError(ErrorCode.UNAVAILABLE, "the upload's bytes are gone; publish again")
            stored = await store.insert_file(conn, team_id, NPM_ECOSYSTEM, row.id, file)
            await npm_store.insert_version(
                conn,
                team_id,
                row.id,
                manifest=document.manifest,
                integrity=facts.integrity,
                shasum=facts.shasum,
                file_count=facts.file_count,
                unpacked_size=facts.unpacked_size,
            )
            state = await npm_store.package_state(conn, team_id, package_id)
            moves_latest = state is None or tags.LATEST in document.dist_tags
            await npm_store.save_package(
                conn,
                team_id,
                package_id,
                dist_tags={**(state.dist_tags if state else {}), **document.dist_tags},
                # The package's readme is the one of the version `latest` points at.
                readme=readme if moves_latest else None,
                readme_filename=document.readme_filename if moves_latest else None,
                keep_readme=not moves_latest,
            )
            rules = self.rules(NPM_ECOSYSTEM)
            await self._refresh(conn, team_id, rules, package_id)
            # The version's dependencies and its tarball were written just now: not read back.
            info = await self._version_info(
                conn, team_id, rules, NPM_ECOSYSTEM, name, row, written=(list(dependencies), [stored])
            )
            outgoing = await self._announce(
                conn,
                ArtifactPublished(
                    team_id=team_id,
                    ecosystem=NPM_ECOSYSTEM,
                    name=name,
                    version=version,
                    purl=info.purl,
                    file=stored,
                    dependencies=info.dependencies,
                ),
                ctx,
                message_id=_event_id(team_id, NPM_ECOSYSTEM, name, version, file.filename),
            )
        self._outbox.send_soon(outgoing)  # without keeping npm waiting for JetStream (see _publish_python)
        log.info("artifact published", ecosystem="npm", name=name, version=version)
        return PublishedArtifact(version=info, file=stored, new_version=True)

    # --- reads --------------------------------------------------------------------------------------

    async def _package(self, conn: Any, team_id: str, name: str) -> tuple[store.PackageRow, NpmPackageRecord]:
        package = await store.get_package(conn, team_id, NPM_ECOSYSTEM, name)
        state = await npm_store.package_state(conn, team_id, package.id) if package is not None else None
        if package is None or state is None:
            raise NotFound("no such package in this registry")
        versions = await npm_store.versions(conn, team_id, package.id)
        record = NpmPackageRecord(
            name=package.name,
            versions=[
                NpmVersionRecord(
                    version=v.version,
                    manifest=v.manifest,
                    tarball_filename=tarball_filename(package.name, v.version),
                    integrity=v.integrity,
                    shasum=v.shasum,
                    published_at=v.published_at,
                    deprecated=v.deprecated,
                    file_count=v.file_count,
                    unpacked_size=v.unpacked_size,
                )
                for v in versions
            ],
            dist_tags=state.dist_tags,
            modified=state.modified_at,
            revision=state.revision,
            readme=state.readme,
            readme_filename=state.readme_filename,
            created=state.created_at,
        )
        return package, record

    def _upstream(self) -> NpmUpstreamProxy:
        return NpmUpstreamProxy(
            self._pool,
            self._blobs,
            self.upstreams,
            self._limits.max_upload_bytes,
            self._discard_blob,
            self.matching,
        )

    async def npm_packument(self, request: NpmPackumentRequest, ctx: MessageContext) -> NpmDocument:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_READ)
        async with self._pool.acquire() as conn:
            private = await store.get_package(conn, team_id, NPM_ECOSYSTEM, request.name) is not None
            if private:
                _package, record = await self._package(conn, team_id, request.name)
        if not private:
            return await self._upstream().packument(
                team_id, request.name, abbreviated=request.abbreviated, registry_url=request.registry_url
            )
        render = abbreviated_packument if request.abbreviated else full_packument
        return NpmDocument(body=json.dumps(render(record, request.registry_url)), cacheable=True)

    async def npm_tarball(self, request: NpmTarballRequest, ctx: MessageContext) -> FileLocation:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_READ)
        _scope, bare = split_scope(request.name)
        prefix = f"{bare}-"
        if not (request.filename.startswith(prefix) and request.filename.endswith(".tgz")):
            raise NotFound("no such tarball in this registry")
        version = request.filename[len(prefix) : -len(".tgz")]
        async with self._pool.acquire() as conn:
            # Found, checked against the download policy and counted in one statement (store.py).
            found = await store.resolve_file(conn, team_id, NPM_ECOSYSTEM, f"{request.name}-{version}.tgz")
            private = found is not None or (
                await store.get_package(conn, team_id, NPM_ECOSYSTEM, request.name) is not None
            )
        if not private:
            return await self._upstream().tarball(team_id, request.name, request.filename, ctx)
        if found is None:
            raise NotFound("no such tarball in this registry")
        refuse_blocked(found)
        return FileLocation(
            filename=request.filename,
            blob_sha256=found.file.sha256,
            size=found.file.size,
            content_type="application/octet-stream",
            cacheable=True,
            file_id=found.id,
        )

    # --- dist-tags ----------------------------------------------------------------------------------

    async def npm_dist_tags(self, request: NpmPackageRequest, ctx: MessageContext) -> NpmDistTags:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_READ)
        async with self._pool.acquire() as conn:
            _package, record = await self._package(conn, team_id, request.name)
        return NpmDistTags(tags=tags.list_tags(record.dist_tags))

    async def npm_dist_tag_set(self, request: NpmDistTagRequest, ctx: MessageContext) -> NpmDistTags:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_PUBLISH)
        if request.version is None:
            raise InvalidUpload("a dist-tag needs the version it points at")
        version = request.version

        def change(current: dict[str, str], versions: list[str]) -> dict[str, str]:
            return tags.add_tag(current, request.tag, version, versions)

        return await self._change_tags(team_id, request.name, change)

    async def npm_dist_tag_remove(self, request: NpmDistTagRequest, ctx: MessageContext) -> NpmDistTags:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_PUBLISH)
        return await self._change_tags(
            team_id, request.name, lambda current, _: tags.remove_tag(current, request.tag)
        )

    async def _change_tags(self, team_id: str, name: str, change: Any) -> NpmDistTags:
        async with self._pool.acquire() as conn, conn.transaction():
            await store.lock_package(conn, team_id, NPM_ECOSYSTEM, name)
            package, record = await self._package(conn, team_id, name)
            updated = change(dict(record.dist_tags), [v.version for v in record.versions])
            await npm_store.save_package(conn, team_id, package.id, dist_tags=updated)
        return NpmDistTags(tags=tags.list_tags(updated))

    # --- deprecate ----------------------------------------------------------------------------------

    async def npm_deprecate(self, request: NpmDeprecateRequest, ctx: MessageContext) -> NpmDeprecated:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_YANK)
        body = _document(request.document)
        async with self._pool.acquire() as conn, conn.transaction():
            await store.lock_package(conn, team_id, NPM_ECOSYSTEM, request.name)
            package, record = await self._package(conn, team_id, request.name)
            rows = {v.version: v for v in await npm_store.versions(conn, team_id, package.id)}
            changes = parse_deprecation(body, {v: row.deprecated for v, row in rows.items()})
            for version, message in changes.items():
                await npm_store.set_deprecated(conn, team_id, rows[version].version_id, message)
            if changes:
                await npm_store.save_package(conn, team_id, package.id, dist_tags=record.dist_tags)
        return NpmDeprecated(name=package.name, changed=changes)

    # --- unpublish ----------------------------------------------------------------------------------

    async def npm_unpublish(self, request: NpmUnpublishRequest, ctx: MessageContext) -> DeletedArtifacts:
        team_id = team_with(ctx.principal, Permission.ARTIFACTS_DELETE)
        by = ctx.principal.user_id or ctx.principal.api_key_id
        files: list[FileInfo] = []
        async with self._pool.acquire() as conn, conn.transaction():
            await store.lock_package(conn, team_id, NPM_ECOSYSTEM, request.name)
            package, record = await self._package(conn, team_id, request.name)
            if request.rev != revision(record):
                raise RevisionConflict("the package changed since it was read (stale _rev); try again")
            rows = await npm_store.versions(conn, team_id, package.id)
            if request.document is not None:
                kept = _document(request.document).get("versions")
                if not isinstance(kept, dict):
                    raise InvalidPublish("versions must be a JSON object")
                removed = [r for r in rows if r.version not in kept]
            elif request.filename is not None:
                removed = [r for r in rows if tarball_filename(package.name, r.version) == request.filename]
            else:
                removed = rows
            now = datetime.now(UTC)
            dependents = await npm_store.dependents(conn, team_id, package.name, package.id)
            for row in removed:
                facts = UnpublishFacts(
                    published_at=row.published_at,
                    dependents=dependents,
                    # Counts are kept in total, not by week: the total bounds the week's from above.
                    weekly_downloads=row.downloads,
                )
                refused = unpublish_refusal(facts, now, self._unpublish_policy)
                if refused is not None:
                    # npm's protocol carries no override: the REST API's delete does.
                    raise UnpublishRefused(f"{refused.message} {_UNPUBLISH_HINT}", refused.rule)
            for row in removed:
                files.extend(await store.delete_version(conn, team_id, row.version_id))
                await npm_store.record_unpublished(conn, team_id, package.name, row.version, by)
            remaining = [r.version for r in rows if r not in removed]
            if remaining:
                retagged = dict(record.dist_tags)
                for row in removed:
                    retagged = tags.retarget_after_unpublish(retagged, row.version, remaining)
                if removed:
                    await npm_store.save_package(conn, team_id, package.id, dist_tags=retagged)
                    await self._refresh(conn, team_id, self.rules(NPM_ECOSYSTEM), package.id)
            else:
                await store.delete_package(conn, team_id, package.id)
        await self._discard_files(files)
        return DeletedArtifacts(
            ecosystem=NPM_ECOSYSTEM,
            name=package.name,
            versions=NPM.newest_first([r.version for r in removed]),
            files=[f.filename for f in files],
        )
