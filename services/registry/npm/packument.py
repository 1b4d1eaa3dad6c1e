"""Packuments: the package document npm reads, full (`npm view`, `npm deprecate`, `npm unpublish`) or
abbreviated (`application/vnd.npm.install-v1+json`, what `npm install` asks for), built from the
versions the registry stores. Format: github.com/npm/registry docs/responses/package-metadata.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from services.registry.ecosystems.npm import NPM, split_scope

ABBREVIATED_MEDIA_TYPE = "application/vnd.npm.install-v1+json"
FULL_MEDIA_TYPE = "application/json"
README_MAX_CHARS = 65_536  # npmjs keeps the first 64K of the readme

# The version fields `npm install` uses (the documented list, plus what npm reads today: `deprecated`
# to warn, `cpu`/`os`/`libc` to skip optional platform packages, `peerDependenciesMeta`,
# `hasInstallScript`, `acceptDependencies`, `funding`).
ABBREVIATED_VERSION_FIELDS = (
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "deprecated",
    "hasInstallScript",
    "_hasShrinkwrap",
)
# Fields of the latest version's manifest repeated at the top of the full document.
HOISTED_FIELDS = (
    "description",
    "homepage",
    "keywords",
    "repository",
    "author",
    "bugs",
    "license",
    "contributors",
    "maintainers",
)
# Fields the registry owns in a version document: whatever the publisher sent is replaced.
_REGISTRY_OWNED = ("_id", "dist", "deprecated", "_attachments", "readme", "readmeFilename")
# Where the publisher's npm took the package from (`npm publish ./pkg.tgz` sends `file:/home/...`):
# paths on the publisher's machine, of no use to an installer, so never served to the team.
_PUBLISHER_LOCAL = ("_from", "_resolved")
_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


@dataclass(frozen=True, slots=True)
class NpmVersionRecord:
    """One stored version: its manifest as published (package.json plus npm's `_npmVersion`, ...)
    and what the registry computed for its tarball."""

    version: str
    manifest: Mapping[str, Any]
    tarball_filename: str  # `name-1.0.0.tgz`, the scope left out as npmjs names it
    integrity: str  # `sha512-<base64>` (SRI)
    shasum: str  # sha1, hex
    published_at: datetime
    deprecated: str | None = None
    file_count: int | None = None
    unpacked_size: int | None = None


@dataclass(frozen=True, slots=True)
class NpmPackageRecord:
    name: str
    versions: Sequence[NpmVersionRecord]
    dist_tags: Mapping[str, str]
    modified: datetime  # last change of any kind (publish, tag, deprecation)
    revision: int = 1  # bumped by the store on every change; `_rev` is built from it
    readme: str | None = None
    readme_filename: str | None = None
    created: datetime | None = None  # defaults to the first publish
    extra_time: Mapping[str, datetime] = field(default_factory=dict)


def npm_time(moment: datetime) -> str:
    """npm's timestamps: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def tarball_url(registry_url: str, name: str, filename: str) -> str:
    """`<registry>/<name>/-/<filename>`, as npmjs lays it out (`@scope/name/-/name-1.0.0.tgz`)."""
    scope, bare = split_scope(name)
    path = f"{quote(scope, safe='@')}/{quote(bare)}" if scope else quote(bare)
    return f"{registry_url.rstrip('/')}/{path}/-/{quote(filename)}"


def tarball_filename(name: str, version: str) -> str:
    return f"{split_scope(name)[1]}-{version}.tgz"


def _version_document(
    package: NpmPackageRecord, record: NpmVersionRecord, registry_url: str
) -> dict[str, Any]:
    doc = {k: v for k, v in record.manifest.items() if k not in _REGISTRY_OWNED and k not in _PUBLISHER_LOCAL}
    doc["name"] = package.name
    doc["version"] = record.version
    doc["_id"] = f"{package.name}@{record.version}"
    dist: dict[str, Any] = {
        "tarball": tarball_url(registry_url, package.name, record.tarball_filename),
        "integrity": record.integrity,
        "shasum": record.shasum,
    }
    if record.file_count is not None:
        dist["fileCount"] = record.file_count
    if record.unpacked_size is not None:
        dist["unpackedSize"] = record.unpacked_size
    doc["dist"] = dist
    if record.deprecated:
        doc["deprecated"] = record.deprecated
    scripts = record.manifest.get("scripts")
    if isinstance(scripts, Mapping) and "hasInstallScript" not in doc:
        doc["hasInstallScript"] = any(s in scripts for s in _INSTALL_SCRIPTS)
    return doc


def _ordered(package: NpmPackageRecord) -> list[NpmVersionRecord]:
    return sorted(package.versions, key=lambda r: NPM.parse_version(r.version))


def _latest(package: NpmPackageRecord) -> NpmVersionRecord | None:
    versions = _ordered(package)
    by_version = {r.version: r for r in versions}
    tagged = package.dist_tags.get("latest")
    if tagged in by_version:
        return by_version[tagged]
    return versions[-1] if versions else None


def revision(package: NpmPackageRecord) -> str:
    """CouchDB's `_rev` shape (`<n>-<32 hex>`): npm echoes it back on unpublish, so it must change
    with every change of the document."""
    state = json.dumps(
        {
            "tags": dict(package.dist_tags),
            "versions": {r.version: [r.integrity, r.deprecated] for r in package.versions},
            "modified": npm_time(package.modified),
        },
        sort_keys=True,
    )
    return f"{package.revision}-{hashlib.md5(state.encode(), usedforsecurity=False).hexdigest()}"


def full_packument(package: NpmPackageRecord, registry_url: str) -> dict[str, Any]:
    versions = _ordered(package)
    time: dict[str, str] = {}
    created = package.created or (min(r.published_at for r in versions) if versions else package.modified)
    time["created"] = npm_time(created)
    time["modified"] = npm_time(package.modified)
    for record in versions:
        time[record.version] = npm_time(record.published_at)
    for key, moment in package.extra_time.items():
        time.setdefault(key, npm_time(moment))
    doc: dict[str, Any] = {
        "_id": package.name,
        "_rev": revision(package),
        "name": package.name,
        "dist-tags": dict(package.dist_tags),
        "versions": {r.version: _version_document(package, r, registry_url) for r in versions},
        "time": time,
    }
    latest = _latest(package)
    if latest is not None:
        for key in HOISTED_FIELDS:
            if key in latest.manifest:
                doc[key] = latest.manifest[key]
    if package.readme is not None:
        doc["readme"] = package.readme[:README_MAX_CHARS]
        if package.readme_filename:
            doc["readmeFilename"] = package.readme_filename
    return doc


def abbreviated_packument(package: NpmPackageRecord, registry_url: str) -> dict[str, Any]:
    versions: dict[str, Any] = {}
    for record in _ordered(package):
        full = _version_document(package, record, registry_url)
        versions[record.version] = {k: full[k] for k in ABBREVIATED_VERSION_FIELDS if k in full}
    return {
        "name": package.name,
        "modified": npm_time(package.modified),
        "dist-tags": dict(package.dist_tags),
        "versions": versions,
    }


def wants_abbreviated(accept: str | None) -> bool:
    """Whether an `Accept` header prefers the abbreviated form (npm install sends
    `application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*`); no header: full."""
    if not accept:
        return False
    best_abbreviated = best_full = 0.0
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media == ABBREVIATED_MEDIA_TYPE:
            best_abbreviated = max(best_abbreviated, q)
        elif media in (FULL_MEDIA_TYPE, "application/*", "*/*"):
            best_full = max(best_full, q)
    return best_abbreviated > 0 and best_abbreviated >= best_full
