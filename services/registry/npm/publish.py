"""The body of `npm publish` (PUT /<name>, built by libnpmpublish): checked field by field before a
byte is stored. One new version, its dist-tags, and one base64 tarball whose length, sha512
(`dist.integrity`) and sha1 (`dist.shasum`) are recomputed, and whose `package/package.json` must name
the same package and version. A PUT without attachments is a packument update (`npm deprecate`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from services.registry.ecosystems.interface import (
    ArchiveTooLarge,
    DigestMismatch,
    FilenameMismatch,
    InvalidName,
    RegistryError,
)
from services.registry.ecosystems.npm import NPM
from services.registry.npm.dist_tags import validate_tag
from services.registry.npm.packument import tarball_filename
from shared.archives import DEFAULT_LIMITS, ArchiveKind, ArchiveLimits, inspect_archive

MANIFEST_MAX_BYTES = 1024 * 1024  # a package.json is a few kB; anything near this is not one


class InvalidPublish(RegistryError):
    """The PUT body is not a publish npm would send (shape, counts, encodings)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_publish", message)


class ManifestMismatch(RegistryError):
    """The tarball's package.json disagrees with the publish body (name or version)."""

    def __init__(self, message: str) -> None:
        super().__init__("manifest_mismatch", message)


@dataclass(frozen=True, slots=True)
class NpmPublish:
    name: str
    version: str
    manifest: dict[str, Any]  # the version object as sent, without the registry-owned `dist`
    dist_tags: dict[str, str]
    filename: str  # how the registry names the tarball: `name-1.0.0.tgz` (no scope)
    tarball: bytes
    integrity: str
    shasum: str
    sha256: str
    file_count: int
    unpacked_size: int
    readme: str | None
    readme_filename: str | None


def is_publish(body: Mapping[str, Any]) -> bool:
    """A PUT /<name> with attachments publishes; without, it rewrites the packument (deprecate)."""
    return bool(body.get("_attachments"))


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPublish(f"{what} must be a JSON object")
    return value


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidPublish(f"{what} must be a non-empty string")
    return value


def sri_digest(integrity: str, algorithm: str) -> bytes | None:
    """The digest for `algorithm` in an SRI string (`sha512-<base64>[?opts] ...`), None if absent."""
    for token in integrity.split():
        alg, _, rest = token.partition("-")
        if alg == algorithm:
            try:
                return base64.b64decode(rest.split("?", 1)[0], validate=True)
            except (binascii.Error, ValueError):
                raise DigestMismatch(f"dist.integrity {token!r} is not valid base64") from None
    return None


@dataclass(frozen=True, slots=True)
class PublishDocument:
    """What the publish document says, checked, before the tarball is looked at."""

    name: str
    version: str
    manifest: dict[str, Any]  # the version object as sent, without the registry-owned `dist`
    dist_tags: dict[str, str]
    filename: str  # how the registry names the tarball: `name-1.0.0.tgz` (no scope)
    attachment_name: str  # libnpmpublish's: `@scope/name-1.0.0.tgz`
    length: int
    sha512: bytes  # from dist.integrity
    shasum: str  # dist.shasum, lower case
    readme: str | None
    readme_filename: str | None


@dataclass(frozen=True, slots=True)
class TarballFacts:
    integrity: str
    shasum: str
    sha256: str
    file_count: int
    unpacked_size: int


def parse_publish_document(
    body: Mapping[str, Any], url_name: str, *, max_tarball_bytes: int, with_data: bool = True
) -> PublishDocument:
    """Validates `npm publish`'s PUT body for the package named in the URL, all but the tarball.
    `with_data=False`: the attachment's `data` was taken out (decoded into the blob store by the
    edge), its `length` stays."""
    name = _string(body.get("name"), "name")
    if name != url_name:
        raise InvalidName(f"the body names {name!r}, the URL {url_name!r}")
    if body.get("_id", name) != name:
        raise InvalidPublish(f"_id {body.get('_id')!r} is not the name {name!r}")
    NPM.validate_name(name)

    versions = _object(body.get("versions"), "versions")
    if len(versions) != 1:
        raise InvalidPublish(f"a publish carries exactly one version, not {len(versions)}")
    ((version, manifest_value),) = versions.items()
    manifest = _object(manifest_value, f"versions[{version!r}]")
    canonical = NPM.normalize_version(version)
    if canonical != version:
        raise InvalidPublish(f"version {version!r} is not in canonical form ({canonical!r})")
    if manifest.get("name") != name or manifest.get("version") != version:
        raise InvalidPublish(
            f"versions[{version!r}] names {manifest.get('name')!r}@{manifest.get('version')!r}"
        )

    tags = _object(body.get("dist-tags", {}), "dist-tags")
    for tag, target in tags.items():
        validate_tag(tag)
        if target != version:
            raise InvalidPublish(f"dist-tag {tag!r} points at {target!r}, not the published {version}")
    dist_tags: dict[str, str] = {str(tag): version for tag in tags} or {"latest": version}

    attachments = _object(body.get("_attachments"), "_attachments")
    if len(attachments) != 1:
        raise InvalidPublish(
            f"a publish carries exactly one tarball, not {len(attachments)} attachments "
            "(provenance bundles are not supported)"
        )
    ((attachment_name, attachment_value),) = attachments.items()
    expected = f"{name}-{version}.tgz"  # libnpmpublish's name, scope included
    if attachment_name != expected:
        raise FilenameMismatch(f"attachment {attachment_name!r}, expected {expected!r}")
    attachment = _object(attachment_value, f"_attachments[{attachment_name!r}]")
    length = attachment.get("length")
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise InvalidPublish("attachment length must be a non-negative integer")
    if length > max_tarball_bytes:
        raise ArchiveTooLarge(f"the tarball is larger than {max_tarball_bytes} bytes")
    if with_data:
        data = _string(attachment.get("data"), "attachment data")
        if len(data) > 4 * (max_tarball_bytes // 3 + 1):
            raise ArchiveTooLarge(f"the tarball is larger than {max_tarball_bytes} bytes")

    dist = _object(manifest.get("dist"), "dist")
    claimed = sri_digest(_string(dist.get("integrity"), "dist.integrity"), "sha512")
    if claimed is None:
        raise DigestMismatch("dist.integrity has no sha512 digest")
    readme = manifest.get("readme", body.get("readme"))  # npm 11 puts it in the version object
    return PublishDocument(
        name=name,
        version=version,
        manifest={k: v for k, v in manifest.items() if k != "dist"},
        dist_tags=dist_tags,
        filename=tarball_filename(name, version),
        attachment_name=attachment_name,
        length=length,
        sha512=claimed,
        shasum=str(dist.get("shasum", "")).lower(),
        readme=readme if isinstance(readme, str) else None,
        readme_filename=_optional_string(manifest.get("readmeFilename")),
    )


def check_tarball(document: PublishDocument, tarball: IO[bytes], limits: ArchiveLimits) -> TarballFacts:
    """The tarball against the document: its length and digests (sha512 integrity, sha1 shasum), a
    safe archive, and a `package/package.json` naming the same package and version."""
    sha512 = hashlib.sha512()
    sha1 = hashlib.sha1(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    tarball.seek(0)
    while chunk := tarball.read(1024 * 1024):
        size += len(chunk)
        sha512.update(chunk)
        sha1.update(chunk)
        sha256.update(chunk)
    if size != document.length:
        raise InvalidPublish(f"attachment decodes to {size} bytes, its length says {document.length}")
    if document.sha512 != sha512.digest():
        raise DigestMismatch("dist.integrity (sha512) does not match the tarball")
    if document.shasum != sha1.hexdigest():
        raise DigestMismatch("dist.shasum (sha1) does not match the tarball")
    tarball.seek(0)
    listing = inspect_archive(
        tarball,
        ArchiveKind.TAR,
        limits,
        capture=lambda member: member.count("/") == 1 and member.endswith("/package.json"),
        capture_limit=MANIFEST_MAX_BYTES,
    )
    packed = _packed_manifest(listing.captured)
    name, version = document.name, document.version
    if packed.get("name") != name or packed.get("version") != version:
        raise ManifestMismatch(
            f"the tarball's package.json is {packed.get('name')!r}@{packed.get('version')!r}, "
            f"the publish {name!r}@{version!r}"
        )
    return TarballFacts(
        integrity="sha512-" + base64.b64encode(sha512.digest()).decode(),
        shasum=sha1.hexdigest(),
        sha256=sha256.hexdigest(),
        file_count=len(listing.files),
        unpacked_size=sum(m.size for m in listing.files),
    )


def parse_publish(
    body: Mapping[str, Any],
    url_name: str,
    *,
    max_tarball_bytes: int,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> NpmPublish:
    """Validates `npm publish`'s whole PUT body (tarball in base64 included) for the package named in
    the URL; the decoded tarball is bounded by `max_tarball_bytes` before it is decoded."""
    document = parse_publish_document(body, url_name, max_tarball_bytes=max_tarball_bytes)
    data = body["_attachments"][document.attachment_name]["data"]
    try:
        tarball = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPublish("attachment data is not valid base64") from None
    facts = check_tarball(document, io.BytesIO(tarball), limits)
    return NpmPublish(
        name=document.name,
        version=document.version,
        manifest=document.manifest,
        dist_tags=document.dist_tags,
        filename=document.filename,
        tarball=tarball,
        integrity=facts.integrity,
        shasum=facts.shasum,
        sha256=facts.sha256,
        file_count=facts.file_count,
        unpacked_size=facts.unpacked_size,
        readme=document.readme,
        readme_filename=document.readme_filename,
    )


def _optional_string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _packed_manifest(captured: Mapping[str, bytes]) -> dict[str, Any]:
    """`package/package.json`, or the package.json of the tarball's only top directory (npm's
    installer strips the first path component whatever its name)."""
    raw = captured.get("package/package.json")
    if raw is None:
        if len(captured) != 1:
            raise ManifestMismatch("the tarball has no package/package.json")
        (raw,) = captured.values()
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ManifestMismatch("the tarball's package.json is not JSON") from None
    if not isinstance(manifest, dict):
        raise ManifestMismatch("the tarball's package.json is not a JSON object")
    return manifest
