"""The public indexes behind the teams' own (`registry.upstreams`), as the ArtifactManagerAgent reads
them: project pages (PyPI) and packuments (npm) fetched on demand and kept for a TTL, files fetched
once into the blob store and checked against the upstream's SHA-256 (PyPI) or `dist.integrity` (npm).

The agent fetches, not the edge: it alone knows which names a team publishes, so the confusion guard
and the fetch are decided in one place, and it writes the blob store already. Bytes go from the
upstream into the blob store here and from the blob store to the client at the edge; never over NATS.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from urllib.parse import quote, urljoin

import aiohttp
import structlog

from services.registry.errors import RegistryError
from services.registry.npm.upstream import (
    TarballCheck,
    UnreadablePackument,
    UpstreamPackument,
    UpstreamTarball,
    UpstreamTooLarge,
    parse_packument,
)
from services.registry.python.upstream_pages import UpstreamFile, parse_project_page
from shared.blobstore import BlobRef, BlobStore, SizeMismatch
from shared.blobstore import DigestMismatch as BlobDigestMismatch

__all__ = ["Upstream", "UpstreamUnavailable", "Upstreams"]

log = structlog.get_logger("mno.registry.upstream")
# How long an upstream that failed is left alone while its last page is served instead.
STALE_RETRY_SECONDS = 30.0

_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
_MAX_PAGE_BYTES = 32 * 1024 * 1024
_CACHED_PAGES = 4096
# Packuments of popular packages run to megabytes: fewer are kept than Python's pages.
_CACHED_PACKUMENTS = 256
_NPM_ABBREVIATED = "application/vnd.npm.install-v1+json"
_CHUNK = 256 * 1024


class UpstreamUnavailable(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("upstream_unavailable", message)


class UpstreamTampered(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("upstream_digest_mismatch", message)


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    kind: str  # "pypi" or "npm"
    url: str
    teams: frozenset[str]  # team ids, or "*"
    cache_ttl_seconds: float
    timeout_seconds: float

    def serves(self, team_id: str) -> bool:
        return "*" in self.teams or team_id.lower() in self.teams


class Upstreams:
    """The configured upstreams, with one HTTP session and one page cache for them all."""

    def __init__(self, upstreams: Iterable[Upstream]) -> None:
        self._upstreams = list(upstreams)
        self._session: aiohttp.ClientSession | None = None
        # (upstream, normalised name) -> (expires at, files or None for "no such project")
        self._pages: OrderedDict[tuple[str, str], tuple[float, list[UpstreamFile] | None]] = OrderedDict()
        # (upstream, name, abbreviated) -> (expires at, packument or None for "no such package")
        self._packuments: OrderedDict[tuple[str, str, bool], tuple[float, UpstreamPackument | None]] = (
            OrderedDict()
        )

    def for_team(self, team_id: str, kind: str) -> Upstream | None:
        return next((u for u in self._upstreams if u.kind == kind and u.serves(team_id)), None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Redirects are not followed: a page must come from the configured index, not wherever
            # it points (pypiserver's fallback redirects unknown names to pypi.org).
            self._session = aiohttp.ClientSession(raise_for_status=False)
        return self._session

    async def project_files(self, upstream: Upstream, name: str) -> list[UpstreamFile] | None:
        """The upstream's files of a project (`name` normalised); None when it has no such project."""
        key = (upstream.name, name)
        now = time.monotonic()
        cached = self._pages.get(key)
        if cached is not None and cached[0] > now:
            self._pages.move_to_end(key)
            return cached[1]
        try:
            files = await self._fetch_page(upstream, name)
        except UpstreamUnavailable:
            if cached is None or cached[1] is None:
                raise
            # The upstream is down: the page it last gave is served (as Artifactory's and Nexus's
            # remote repositories do), and asked again only after a short wait, not on every install.
            log.warning("upstream unreachable: serving its last page", upstream=upstream.name, project=name)
            self._pages[key] = (now + min(upstream.cache_ttl_seconds, STALE_RETRY_SECONDS), cached[1])
            return cached[1]
        self._pages[key] = (now + upstream.cache_ttl_seconds, files)
        self._pages.move_to_end(key)
        while len(self._pages) > _CACHED_PAGES:
            self._pages.popitem(last=False)
        return files

    async def _fetch_page(self, upstream: Upstream, name: str) -> list[UpstreamFile] | None:
        url = urljoin(upstream.url.rstrip("/") + "/", quote(name) + "/")
        timeout = aiohttp.ClientTimeout(total=upstream.timeout_seconds)
        try:
            async with self._http().get(
                url, headers={"Accept": _ACCEPT}, timeout=timeout, allow_redirects=False
            ) as response:
                if response.status in (301, 302, 303, 307, 308, 404, 410):
                    return None
                if response.status != 200:
                    raise UpstreamUnavailable(f"the upstream {upstream.name} answered {response.status}")
                body = await response.content.read(_MAX_PAGE_BYTES + 1)
                if len(body) > _MAX_PAGE_BYTES:
                    raise UpstreamUnavailable(f"the upstream {upstream.name}'s page for {name} is too large")
                media = response.content_type
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("upstream unreachable", upstream=upstream.name, error=str(error))
            raise UpstreamUnavailable(
                f"the upstream {upstream.name} cannot be reached ({type(error).__name__})"
            ) from None
        try:
            return parse_project_page(body.decode("utf-8", errors="replace"), media, url)
        except ValueError:
            raise UpstreamUnavailable(
                f"the upstream {upstream.name}'s page for {name} is unreadable"
            ) from None

    async def fetch_into(self, upstream: Upstream, file: UpstreamFile, blobs: BlobStore) -> BlobRef:
        """The file's bytes into the blob store, refused (and not kept) unless they are the SHA-256
        (and size, when given) the upstream's page lists."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=upstream.timeout_seconds)
        try:
            async with self._http().get(file.url, timeout=timeout, allow_redirects=True) as response:
                if response.status != 200:
                    raise UpstreamUnavailable(
                        f"the upstream {upstream.name} answered {response.status} for {file.filename}"
                    )
                return await blobs.put(
                    _chunks(response), expected_sha256=file.sha256, expected_size=file.size
                )
        except (BlobDigestMismatch, SizeMismatch):
            log.warning("upstream file does not match its digest", upstream=upstream.name, file=file.filename)
            raise UpstreamTampered(
                f"{file.filename} from the upstream {upstream.name} does not match the SHA-256 listed for it"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise UpstreamUnavailable(
                f"the upstream {upstream.name} cannot be reached ({type(error).__name__})"
            ) from None

    # --- npm ----------------------------------------------------------------------------------------

    async def packument(
        self, upstream: Upstream, name: str, *, abbreviated: bool
    ) -> UpstreamPackument | None:
        """The upstream's packument of `name` in the form asked (the abbreviated one is what
        `npm install` reads, and far smaller); None when the upstream has no such package."""
        key = (upstream.name, name, abbreviated)
        now = time.monotonic()
        cached = self._packuments.get(key)
        if cached is not None and cached[0] > now:
            self._packuments.move_to_end(key)
            return cached[1]
        found = await self._fetch_packument(upstream, name, abbreviated)
        self._packuments[key] = (now + upstream.cache_ttl_seconds, found)
        self._packuments.move_to_end(key)
        while len(self._packuments) > _CACHED_PACKUMENTS:
            self._packuments.popitem(last=False)
        return found

    def cached_packument(self, upstream: Upstream, name: str) -> UpstreamPackument | None:
        """A packument of `name` still fresh in the cache, in either form (a tarball needs only its
        version's `dist`, which both carry)."""
        now = time.monotonic()
        for abbreviated in (True, False):
            cached = self._packuments.get((upstream.name, name, abbreviated))
            if cached is not None and cached[0] > now and cached[1] is not None:
                return cached[1]
        return None

    async def _fetch_packument(
        self, upstream: Upstream, name: str, abbreviated: bool
    ) -> UpstreamPackument | None:
        # npm's own spelling of a scoped name in a URL: `@scope%2fname`.
        url = upstream.url.rstrip("/") + "/" + quote(name, safe="@")
        accept = f"{_NPM_ABBREVIATED}, application/json;q=0.8" if abbreviated else "application/json"
        timeout = aiohttp.ClientTimeout(total=upstream.timeout_seconds)
        try:
            async with self._http().get(
                url, headers={"Accept": accept}, timeout=timeout, allow_redirects=False
            ) as response:
                if response.status in (404, 410):
                    return None
                if response.status != 200:
                    raise UpstreamUnavailable(
                        f"the upstream {upstream.name} answered {response.status} for {name}"
                    )
                body = await response.content.read(_MAX_PAGE_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("upstream unreachable", upstream=upstream.name, error=str(error))
            raise UpstreamUnavailable(
                f"the upstream {upstream.name} cannot be reached ({type(error).__name__})"
            ) from None
        if len(body) > _MAX_PAGE_BYTES:
            raise UpstreamUnavailable(f"the upstream {upstream.name}'s packument of {name} is too large")
        try:
            document = await asyncio.to_thread(json.loads, body)
        except ValueError:
            raise UnreadablePackument(
                f"the upstream {upstream.name}'s packument of {name} is not JSON"
            ) from None
        return parse_packument(document, name, upstream.url)

    async def fetch_tarball(
        self, upstream: Upstream, tarball: UpstreamTarball, blobs: BlobStore, max_bytes: int
    ) -> BlobRef:
        """The tarball's bytes into the blob store, checked against the packument's integrity as
        they stream; on a mismatch the blob store drops what it staged, so nothing is kept."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=upstream.timeout_seconds)
        check = TarballCheck(tarball, max_bytes)
        try:
            async with self._http().get(tarball.url, timeout=timeout, allow_redirects=True) as response:
                if response.status != 200:
                    raise UpstreamUnavailable(
                        f"the upstream {upstream.name} answered {response.status} for {tarball.filename}"
                    )
                if response.content_length is not None and response.content_length > max_bytes:
                    raise UpstreamTooLarge(
                        f"{tarball.filename} from the upstream {upstream.name} is over {max_bytes} bytes"
                    )
                return await blobs.put(_checked(response, check))
        except (aiohttp.ClientError, TimeoutError) as error:
            raise UpstreamUnavailable(
                f"the upstream {upstream.name} cannot be reached ({type(error).__name__})"
            ) from None


async def _checked(response: aiohttp.ClientResponse, check: TarballCheck) -> AsyncIterator[bytes]:
    async for chunk in response.content.iter_chunked(_CHUNK):
        check.update(chunk)
        yield chunk
    # Before the iterator ends, so before the blob store commits what it staged.
    check.verify()


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for chunk in response.content.iter_chunked(_CHUNK):
        yield chunk
