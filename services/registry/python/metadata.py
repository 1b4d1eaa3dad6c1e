"""Core metadata (2.1-2.4 and later, as `packaging` reads it) of wheels and sdists, and the agreement
of a distribution's file name with it (`packaging.utils`, the parser pip uses)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Literal

from packaging.metadata import ExceptionGroup as MetadataErrors
from packaging.metadata import Metadata, parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from services.registry.ecosystems.interface import FilenameMismatch, InvalidMetadata, InvalidUpload
from services.registry.licenses import python_license_ids
from shared.archives import ArchiveKind, ArchiveLimits, ArchiveListing, inspect_archive
from shared.messages.artifacts import Dependency, DependencyKind

DistKind = Literal["wheel", "sdist"]
# A METADATA/PKG-INFO file is a few kB; a long readme makes it larger, never this large.
MAX_METADATA_BYTES = 4 * 1024 * 1024
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
# The fields core metadata defines, as email headers (lower case): an unparsed one of these has
# invalid data, any other is unknown.
_KNOWN_FIELDS = frozenset(
    {
        "metadata-version",
        "name",
        "version",
        "dynamic",
        "platform",
        "supported-platform",
        "summary",
        "description",
        "description-content-type",
        "keywords",
        "home-page",
        "download-url",
        "author",
        "author-email",
        "maintainer",
        "maintainer-email",
        "license",
        "license-expression",
        "license-file",
        "classifier",
        "requires-dist",
        "requires-python",
        "requires-external",
        "project-url",
        "provides-extra",
        "provides-dist",
        "obsoletes-dist",
        "requires",
        "provides",
        "obsoletes",
        "import-name",
        "import-namespace",
    }
)


@dataclass(frozen=True, slots=True)
class DistFilename:
    kind: DistKind
    name: str  # normalised
    version: Version


@dataclass(frozen=True, slots=True)
class PythonMetadata:
    raw: bytes  # the METADATA / PKG-INFO file as found, served as the PEP 658 file
    metadata: Metadata

    @property
    def dependencies(self) -> list[Dependency]:
        return dependencies_of(self.metadata)


def parse_filename(filename: str) -> DistFilename:
    """The distribution's kind, name and version from its file name (`InvalidUpload` otherwise)."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return DistFilename("wheel", str(name), version)
        if filename.endswith(".tar.gz"):
            name, version = parse_sdist_filename(filename)
            return DistFilename("sdist", str(name), version)
    except (InvalidWheelFilename, InvalidSdistFilename) as error:
        raise InvalidUpload(f"{filename!r} is not a valid distribution file name: {error}") from None
    raise InvalidUpload(f"{filename!r}: only wheels (.whl) and sdists (.tar.gz, PEP 625) are accepted")


def _wheel_metadata_member(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA"


def _sdist_metadata_member(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def inspect_distribution(
    fileobj: IO[bytes], dist: DistFilename, filename: str, limits: ArchiveLimits
) -> tuple[ArchiveListing, PythonMetadata]:
    """Inspects the archive safely (see `archives`) and returns its core metadata."""
    wheel = dist.kind == "wheel"
    listing = inspect_archive(
        fileobj,
        ArchiveKind.ZIP if wheel else ArchiveKind.TAR,
        limits,
        capture=_wheel_metadata_member if wheel else _sdist_metadata_member,
        capture_limit=MAX_METADATA_BYTES,
    )
    stem = filename.removesuffix(".whl") if wheel else filename.removesuffix(".tar.gz")
    if wheel:
        # `{name}-{version}.dist-info`, spelled as in the file name (the wheel spec's rule).
        name_part, version_part = stem.split("-")[:2]
        wanted = f"{name_part}-{version_part}.dist-info/METADATA"
        found = sorted(listing.captured)
        if wanted in listing.captured:
            raw = listing.captured[wanted]
        elif len(found) == 1:
            # One .dist-info of another name or version: its metadata then disagrees with the file
            # name, which `check_agreement` names precisely.
            raw = listing.captured[found[0]]
        else:
            raise InvalidMetadata(
                f"{filename} has no {wanted}" + (f" (it has {', '.join(found)})" if found else "")
            )
    else:
        top = {n.split("/")[0] for n in listing.names}
        if len(top) != 1 or top != {stem}:
            raise InvalidMetadata(f"an sdist holds one top directory named {stem}/ (found {sorted(top)})")
        raw = listing.captured.get(f"{stem}/PKG-INFO", b"")
        if not raw:
            raise InvalidMetadata(f"{filename} has no {stem}/PKG-INFO")
    return listing, PythonMetadata(raw, parse_metadata(raw))


def parse_metadata(raw: bytes) -> Metadata:
    """The core metadata, validated by `packaging` (every problem named, not only the first).

    One departure, PyPI's and twine's: `License-File` under a Metadata-Version before 2.4, which
    introduced it (PEP 639), is dropped rather than refused. setuptools 56 to 76 and `wheel` write it
    under 2.1 and 2.2, so most wheels and sdists of the last years carry it; the file served as PEP
    658 metadata keeps it, as found."""
    try:
        fields, unparsed = parse_email(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidMetadata(f"the core metadata is unreadable: {error}") from None
    if _before_2_4(fields.get("metadata_version")):
        fields.pop("license_files", None)
        unparsed.pop("license-file", None)  # where a packaging without 2.4 puts it
    problems = [
        f"{key!r} has invalid data" if key in _KNOWN_FIELDS else f"unrecognized field: {key!r}"
        for key in unparsed
    ]
    try:
        metadata = Metadata.from_raw(fields, validate=True)
    except MetadataErrors as errors:
        problems.extend(str(e) for e in errors.exceptions)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidMetadata(f"the core metadata is unreadable: {error}") from None
    if problems:
        raise InvalidMetadata(f"the core metadata is invalid: {'; '.join(problems)}")
    return metadata


def _before_2_4(metadata_version: str | None) -> bool:
    try:
        return metadata_version is not None and Version(metadata_version) < Version("2.4")
    except InvalidVersion:
        return False  # refused by the validation, naming the field


def check_agreement(filename: str, dist: DistFilename, metadata: Metadata) -> None:
    """The file name's project and version must be the metadata's (no `foo-2.0.whl` holding 1.0)."""
    meta_name = str(canonicalize_name(metadata.name))
    if meta_name != dist.name:
        raise FilenameMismatch(f"{filename} names project {dist.name}, its metadata says {metadata.name}")
    if metadata.version != dist.version:
        raise FilenameMismatch(
            f"{filename} names version {dist.version}, its metadata says {metadata.version}"
        )


def dependencies_of(metadata: Metadata) -> list[Dependency]:
    dependencies = []
    for requirement in metadata.requires_dist or []:
        marker = str(requirement.marker) if requirement.marker is not None else None
        extra_match = _EXTRA_MARKER.search(marker or "")
        extra = str(canonicalize_name(extra_match.group(1))) if extra_match else None
        specifier = str(requirement.specifier)
        if requirement.extras:
            specifier = f"[{','.join(sorted(requirement.extras))}]{specifier}"
        if requirement.url:
            specifier = f"@ {requirement.url}"
        dependencies.append(
            Dependency(
                name=str(canonicalize_name(requirement.name)),
                requirement=specifier,
                kind=DependencyKind.OPTIONAL if extra else DependencyKind.RUNTIME,
                extra=extra,
                marker=marker,
            )
        )
    return dependencies


def license_of(metadata: Metadata) -> str | None:
    """The SPDX expression (metadata 2.4), else a one-line `License` field, else None."""
    if metadata.license_expression:
        return str(metadata.license_expression)
    license_text = (metadata.license or "").strip()
    if license_text and "\n" not in license_text and len(license_text) <= 100:
        return license_text
    return None


def license_ids_of(metadata: Metadata) -> list[str]:
    """The SPDX ids the metadata's licence names (licenses.py): its License-Expression, else its
    License field and licence classifiers."""
    expression = str(metadata.license_expression) if metadata.license_expression else None
    return python_license_ids(expression, metadata.license, metadata.classifiers or [])


def dynamic_of(metadata: Metadata, dist: DistFilename) -> list[str]:
    """The fields an sdist's PKG-INFO leaves to build time (metadata 2.2, PEP 643: `Dynamic`), by
    their header names (`Requires-Dist`); a wheel's metadata is what it is, whatever it says."""
    if dist.kind != "sdist":
        return []
    return sorted(
        "-".join(part.capitalize() for part in field.split("-")) for field in metadata.dynamic or []
    )


def authors_of(metadata: Metadata) -> list[str]:
    people = [metadata.author, metadata.author_email, metadata.maintainer, metadata.maintainer_email]
    return [p.strip() for p in people if p and p.strip()]


def project_url(metadata: Metadata, *labels: str) -> str | None:
    urls = {
        label.lower().replace(" ", "").replace("-", ""): url
        for label, url in (metadata.project_urls or {}).items()
    }
    for label in labels:
        if label in urls:
            return urls[label]
    return None
