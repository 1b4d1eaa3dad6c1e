"""A team's npm upstream behind its own registry: packuments of names the team does not publish
come from the upstream with their tarball URLs pointing at ours; a tarball is fetched the first
time it is asked for, checked against the packument's integrity, and served from the blob store
from then on (its row in `upstream_files` is what a later install finds, without the upstream).

The dependency-confusion guard is asked before anything goes upstream, for packuments and
tarballs alike: a name the team publishes, once published, or under a scope the team publishes
in, is never the upstream's (upstream_store.npm_name_is_private).

A team's quarantine (download_policy.py) is applied to what this team gets, never to what is shared:
the upstream's packument (cached for every team) is read in its full form, whose `time` map dates
each version (npmjs's abbreviated form has none), the versions the quarantine hides are left out of
a copy (their dist-tags moved to what remains) and that copy is rendered, in the form asked, for
this team alone; a document too large for a reply is stored per team. A team without a quarantine
gets the upstream's document as before. A tarball of a hidden version is refused (`Quarantined`, a
403 naming when it leaves the quarantine), before anything is fetched.

A tarball of a version the team's policy blocks is refused as a private one is (`BlockedByPolicy`,
upstream_matching.py): checked at every download, and, the first time a team whose policy blocks
takes the version, asked of the SupplyChainAgent once its bytes are fetched (npm's integrity is no
SHA-256, and the version's SBOM names its file's): refused, those bytes are not kept. The team's first
row of a file announces the version for matching (`upstream_version_fetched`, in its transaction).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.registry import store, upstream_store
from services.registry.download_policy import (
    Quarantine,
    Quarantined,
    hidden_versions,
    quarantine_days,
    quarantine_message,
)
from services.registry.ecosystems.interface import NotFound
from services.registry.npm.upstream import UpstreamPackument, publish_instants, render, without_versions
from services.registry.upstream import Upstream, Upstreams, UpstreamUnavailable
from services.registry.upstream_matching import UpstreamMatching
from shared.blobstore import BlobStore
from shared.bus.context import MessageContext
from shared.messages.artifacts import (
    NPM_DOCUMENT_MAX_CHARS,
    BlobReference,
    Ecosystem,
    FileLocation,
    NpmDocument,
    UpstreamVersion,
)

__all__ = ["NpmUpstreamProxy"]

log = structlog.get_logger("mno.registry.npm.upstream")

# A reply must stay inside NATS' max_payload (1 MB by default) once the envelope escapes it.
INLINE_DOCUMENT_CHARS = NPM_DOCUMENT_MAX_CHARS


class NpmUpstreamProxy:
    def __init__(
        self,
        pool: Any,
        blobs: BlobStore,
        upstreams: Upstreams,
        max_bytes: int,
        discard_blob: Callable[[str], Awaitable[None]],
        matching: UpstreamMatching,
    ) -> None:
        self._pool = pool
        self._matching = matching
        self._blobs = blobs
        self._upstreams = upstreams
        self._max_bytes = max_bytes
        # Removes a blob unless a row still uses it (Registry._discard_blob).
        self._discard_blob = discard_blob

    async def _upstream_for(self, conn: Any, team_id: str, name: str) -> Upstream:
        upstream = self._upstreams.for_team(team_id, "npm")
        if upstream is None or await upstream_store.npm_name_is_private(conn, team_id, name):
            raise NotFound("no such package in this registry")
        return upstream

    async def packument(
        self, team_id: str, name: str, *, abbreviated: bool, registry_url: str
    ) -> NpmDocument:
        async with self._pool.acquire() as conn:
            upstream = await self._upstream_for(conn, team_id, name)
            days = await quarantine_days(conn, team_id)
        # Under a quarantine the full form, whose `time` dates the versions; rendered abbreviated
        # below when that is what was asked.
        found = await self._upstreams.packument(upstream, name, abbreviated=abbreviated and not days)
        if found is None or not found.tarballs:
            raise NotFound("no such package in this registry")
        if days:
            quarantine = await self._quarantine(team_id, upstream, found, days)
            found = without_versions(found, quarantine.hidden.keys())
            if not found.tarballs:
                raise NotFound("no version of this package is out of your team's quarantine yet")
        body = json.dumps(render(found, registry_url, abbreviated=abbreviated))
        if len(body) <= INLINE_DOCUMENT_CHARS:
            return NpmDocument(body=body)
        return await self._stored(team_id, upstream, name, "abbreviated" if abbreviated else "full", body)

    async def _quarantine(
        self, team_id: str, upstream: Upstream, packument: UpstreamPackument, days: int
    ) -> Quarantine:
        """The team's quarantine over the versions the packument lists, aged by its `time` map."""
        async with self._pool.acquire() as conn:
            return await hidden_versions(
                conn,
                team_id,
                upstream.name,
                Ecosystem.NPM,
                packument.name,
                publish_instants(packument),
                days=days,
            )

    async def _stored(self, team_id: str, upstream: Upstream, name: str, form: str, body: str) -> NpmDocument:
        """A document too large for a reply, put in the blob store for the edge to stream."""
        blob = await self._blobs.put(_once(body.encode()))
        async with self._pool.acquire() as conn, conn.transaction():
            await store.lock_blob(conn, blob.sha256)
            if not await self._blobs.exists(blob.sha256):
                raise UpstreamUnavailable(
                    f"the packument of {name} was removed while it was stored; ask again"
                )
            replaced = await upstream_store.replace_document(
                conn,
                team_id,
                Ecosystem.NPM,
                upstream.name,
                name=name,
                form=form,
                sha256=blob.sha256,
                size=blob.size,
            )
        if replaced is not None:
            await self._discard_blob(replaced)
        return NpmDocument(body="", blob=BlobReference(sha256=blob.sha256, size=blob.size))

    async def tarball(self, team_id: str, name: str, filename: str, ctx: MessageContext) -> FileLocation:
        async with self._pool.acquire() as conn:
            upstream = await self._upstream_for(conn, team_id, name)
            days = await quarantine_days(conn, team_id)
            cached = await upstream_store.cached_file(
                conn, team_id, Ecosystem.NPM, upstream.name, name, filename
            )
            # A blob gone from the store (removed by hand, another backend) is fetched again.
            if cached is not None and not await self._blobs.exists(cached.sha256):
                cached = None
            # A file this team fetched at least `days` ago was published upstream before then, so
            # no quarantine can hold it: served without asking the upstream.
            if cached is not None and (
                not days or cached.cached_at <= datetime.now(UTC) - timedelta(days=days)
            ):
                await self._matching.check(
                    conn, _taken(team_id, upstream, name, filename, cached.version, cached.sha256), ctx
                )
                await upstream_store.count_download(
                    conn, team_id, Ecosystem.NPM, upstream.name, name, filename
                )
                return _location(filename, cached.sha256, cached.size)
        if days:
            found = await self._upstreams.packument(upstream, name, abbreviated=False)
        else:
            found = self._upstreams.cached_packument(upstream, name) or await self._upstreams.packument(
                upstream, name, abbreviated=True
            )
        listed = found.tarball(filename) if found is not None else None
        if found is None or listed is None:
            raise NotFound("no such tarball in this registry")
        if days:
            quarantine = await self._quarantine(team_id, upstream, found, days)
            until = quarantine.hidden.get(listed.version)
            if until is not None:
                raise Quarantined(quarantine_message(name, listed.version, until, days))
        if cached is not None:
            async with self._pool.acquire() as conn:
                await self._matching.check(
                    conn, _taken(team_id, upstream, name, filename, cached.version, cached.sha256), ctx
                )
                await upstream_store.count_download(
                    conn, team_id, Ecosystem.NPM, upstream.name, name, filename
                )
            return _location(filename, cached.sha256, cached.size)
        blob = await self._upstreams.fetch_tarball(upstream, listed, self._blobs, self._max_bytes)
        log.info("upstream tarball cached", upstream=upstream.name, name=name, filename=filename)
        taken = _taken(team_id, upstream, name, filename, listed.version, blob.sha256)
        try:
            async with self._pool.acquire() as conn:
                await self._matching.check(conn, taken, ctx)
        except BaseException:
            # Refused (or not checked): the bytes are not kept, unless a row holds the same ones.
            await self._discard_blob(blob.sha256)
            raise
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialised with a refused upload removing a blob of the same bytes (content-addressed).
            await store.lock_blob(conn, blob.sha256)
            if not await self._blobs.exists(blob.sha256):
                raise UpstreamUnavailable(f"{filename} was removed while it was cached; ask again")
            held = await upstream_store.cached_file(
                conn, team_id, Ecosystem.NPM, upstream.name, name, filename
            )
            await upstream_store.record_file(
                conn,
                team_id,
                Ecosystem.NPM,
                upstream.name,
                name=name,
                version=listed.version,
                filename=filename,
                sha256=blob.sha256,
                size=blob.size,
                upstream_digest=listed.digest,
                announced=held is None,
            )
            # The version is matched against the advisories (and re-matched as they change).
            matched = await self._matching.recorded(conn, taken, ctx) if held is None else None
            await upstream_store.count_download(conn, team_id, Ecosystem.NPM, upstream.name, name, filename)
        if matched is not None:
            self._matching.send_soon(matched)
        return _location(filename, blob.sha256, blob.size)


def _taken(
    team_id: str, upstream: Upstream, name: str, filename: str, version: str, sha256: str
) -> UpstreamVersion:
    """A tarball the team takes from the upstream, as the version it is of."""
    return UpstreamVersion(
        team_id=team_id,
        ecosystem=Ecosystem.NPM,
        upstream=upstream.name,
        name=name,
        version=version,
        filename=filename,
        sha256=sha256,
    )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _location(filename: str, sha256: str, size: int) -> FileLocation:
    return FileLocation(
        filename=filename, blob_sha256=sha256, size=size, content_type="application/octet-stream"
    )
