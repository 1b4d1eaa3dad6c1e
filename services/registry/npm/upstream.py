"""An upstream npm registry's packument read and re-served as the team's own, pure: only versions
whose tarball has a digest we can check (`dist.integrity` sha512, else `dist.shasum`) are kept, their
tarball URLs point at the team's registry, and a tarball's bytes are checked against those digests
as they stream (`TarballCheck`), so a file that does not match is never kept.

A team's quarantine reads each version's publish instant from the packument's `time` map
(`publish_instants`; the full form has it, npmjs's abbreviated one does not) and leaves the versions
it hides out (`without_versions`), their dist-tags moved to what remains.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from services.registry.ecosystems.interface import RegistryError
from services.registry.ecosystems.npm import NPM
from services.registry.npm.packument import ABBREVIATED_VERSION_FIELDS, tarball_filename, tarball_url

__all__ = [
    "IntegrityMismatch",
    "TarballCheck",
    "UnreadablePackument",
    "UpstreamPackument",
    "UpstreamTarball",
    "UpstreamTooLarge",
    "parse_packument",
    "publish_instants",
    "render",
    "without_versions",
]

_SHASUM = re.compile(r"[0-9a-f]{40}")
# Registry-side fields of the upstream's documents that say nothing true about ours: CouchDB's
# revision, attachments, and npmjs's signatures (made for its own registry's keys, not ours).
_DROPPED_TOP = ("_rev", "_attachments", "users")
_DROPPED_DIST = ("signatures", "npm-signature", "attestations")


class IntegrityMismatch(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("upstream_digest_mismatch", message)


class UpstreamTooLarge(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("upstream_too_large", message)


class UnreadablePackument(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("upstream_unavailable", message)


@dataclass(frozen=True, slots=True)
class UpstreamTarball:
    name: str
    version: str
    filename: str  # ours: `name-1.0.0.tgz`, scope left out
    url: str  # the upstream's, absolute
    sha512: bytes | None  # from `dist.integrity`
    shasum: str | None  # sha1 hex, checked when there is no sha512

    @property
    def digest(self) -> str:
        """The digest the bytes were checked against, as the upstream wrote it."""
        if self.sha512 is not None:
            return "sha512-" + base64.b64encode(self.sha512).decode()
        assert self.shasum is not None
        return self.shasum


@dataclass(frozen=True, slots=True)
class UpstreamPackument:
    name: str
    document: Mapping[str, Any]  # the upstream's, unverifiable versions already left out
    tarballs: Mapping[str, UpstreamTarball]  # by our filename

    def tarball(self, filename: str) -> UpstreamTarball | None:
        return self.tarballs.get(filename)


def _sha512(integrity: object) -> bytes | None:
    """The sha512 of an SRI string (`sha512-<base64>`, possibly among other hashes); None if absent."""
    if not isinstance(integrity, str):
        return None
    for item in integrity.split():
        algorithm, _, value = item.partition("-")
        if algorithm != "sha512":
            continue
        try:
            raw = base64.b64decode(value.split("?", 1)[0], validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == hashlib.sha512().digest_size:
            return raw
    return None


def parse_packument(document: object, name: str, upstream_url: str) -> UpstreamPackument:
    """The upstream's packument (full or abbreviated) of `name`; refused when it is not one, or is
    another package's (an upstream answering for a name we did not ask is not to be believed)."""
    if not isinstance(document, dict) or not isinstance(document.get("versions"), dict):
        raise UnreadablePackument(f"the upstream's document for {name} is not a packument")
    if document.get("name") != name:
        raise UnreadablePackument(f"the upstream answered for {document.get('name')!r}, not {name!r}")
    kept: dict[str, Any] = {}
    tarballs: dict[str, UpstreamTarball] = {}
    for version, entry in document["versions"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("dist"), dict):
            continue
        try:
            if NPM.normalize_version(version) != version:
                continue
        except RegistryError:
            continue
        dist = entry["dist"]
        url = dist.get("tarball")
        sha512 = _sha512(dist.get("integrity"))
        shasum = dist.get("shasum")
        shasum = shasum.lower() if isinstance(shasum, str) and _SHASUM.fullmatch(shasum.lower()) else None
        if not isinstance(url, str) or (sha512 is None and shasum is None):
            continue  # a tarball we cannot check is never fetched, so its version is never listed
        filename = tarball_filename(name, version)
        tarballs[filename] = UpstreamTarball(
            name=name,
            version=version,
            filename=filename,
            url=urljoin(upstream_url.rstrip("/") + "/", url),
            sha512=sha512,
            shasum=shasum,
        )
        kept[version] = entry
    cleaned = {k: v for k, v in document.items() if k not in _DROPPED_TOP}
    cleaned["versions"] = kept
    tags = document.get("dist-tags")
    cleaned["dist-tags"] = (
        {t: v for t, v in tags.items() if isinstance(t, str) and v in kept} if isinstance(tags, dict) else {}
    )
    return UpstreamPackument(name=name, document=cleaned, tarballs=tarballs)


def publish_instants(packument: UpstreamPackument) -> dict[str, datetime | None]:
    """Each listed version's publish instant from the packument's `time` map; None where the map
    lacks it (an abbreviated packument has no map) or holds no instant with an offset."""
    times = packument.document.get("time")
    times = times if isinstance(times, dict) else {}
    return {version: _instant(times.get(version)) for version in packument.document["versions"]}


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def without_versions(packument: UpstreamPackument, hidden: Collection[str]) -> UpstreamPackument:
    """The packument less the `hidden` versions (gone from `versions`, `time` and its tarballs, so
    never fetched); a dist-tag that pointed at one steps back to the highest remaining version below
    it (no prerelease for a tag that named a release), what the tag named before the hidden version
    was published, never a newer line; it goes when there is none. The packument given is left as it
    was (it is the cache's, shared by every team)."""
    if not hidden:
        return packument
    versions = {v: entry for v, entry in packument.document["versions"].items() if v not in hidden}
    tags: dict[str, str] = {}
    for tag, version in packument.document.get("dist-tags", {}).items():
        if version not in hidden:
            tags[tag] = version
        elif (previous := _step_back(version, versions)) is not None:
            tags[tag] = previous
    document = {**packument.document, "versions": versions, "dist-tags": tags}
    times = packument.document.get("time")
    if isinstance(times, dict):
        document["time"] = {k: at for k, at in times.items() if k not in hidden}
    tarballs = {f: t for f, t in packument.tarballs.items() if t.version not in hidden}
    return UpstreamPackument(name=packument.name, document=document, tarballs=tarballs)


def _step_back(hidden: str, remaining: Collection[str]) -> str | None:
    ceiling = NPM.parse_version(hidden)
    release = not NPM.is_prerelease(hidden)
    below = [
        v for v in remaining if NPM.parse_version(v) < ceiling and not (release and NPM.is_prerelease(v))
    ]
    return max(below, key=NPM.parse_version) if below else None


def render(packument: UpstreamPackument, registry_url: str, *, abbreviated: bool) -> dict[str, Any]:
    """The packument as the team's registry serves it: tarballs at our URLs, abbreviated on request
    (from a full document too: the fields `npm install` reads)."""
    document = copy.deepcopy(dict(packument.document))
    versions: dict[str, Any] = document["versions"]
    for version, entry in versions.items():
        dist = {k: v for k, v in entry["dist"].items() if k not in _DROPPED_DIST}
        dist["tarball"] = tarball_url(registry_url, packument.name, tarball_filename(packument.name, version))
        entry["dist"] = dist
        if abbreviated:
            versions[version] = {k: entry[k] for k in ABBREVIATED_VERSION_FIELDS if k in entry}
    if abbreviated:
        document = {
            "name": packument.name,
            "modified": document.get("modified") or (document.get("time") or {}).get("modified"),
            "dist-tags": document["dist-tags"],
            "versions": versions,
        }
        if document["modified"] is None:
            del document["modified"]
    return document


class TarballCheck:
    """The upstream's digests over a tarball as it streams, and a bound on its size."""

    def __init__(self, tarball: UpstreamTarball, max_bytes: int) -> None:
        self._tarball = tarball
        self._max_bytes = max_bytes
        self._sha512 = hashlib.sha512()
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._size = 0

    def update(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise UpstreamTooLarge(
                f"{self._tarball.filename} from the upstream is larger than {self._max_bytes} bytes"
            )
        self._sha512.update(chunk)
        self._sha1.update(chunk)

    def verify(self) -> None:
        """Raises unless the bytes seen are the ones the upstream's packument lists (sha512 when it
        gives one: sha1 only for the old versions published before npm recorded integrity)."""
        tarball = self._tarball
        if tarball.sha512 is not None:
            ok = self._sha512.digest() == tarball.sha512
        else:
            ok = self._sha1.hexdigest() == tarball.shasum
        if not ok:
            raise IntegrityMismatch(
                f"{tarball.name}@{tarball.version} from the upstream does not match the integrity "
                "its packument lists"
            )
