"""What the registry's core asks of an ecosystem: its names, its versions and their order, its purls.

The core (store, search, service) never assumes Python or npm: it normalises and validates names,
sorts versions and decides latest/stable through `EcosystemRules`. Later ecosystems fit the same
shape: Go's module paths (`!`-escaped capitals) and Maven's `groupId:artifactId` are names with their
own normalisation; Cargo's `-`/`_` equivalence is its `normalize_name`.
"""

from __future__ import annotations

import abc
from typing import Any, Protocol

from packageurl import PackageURL

from services.registry.errors import RegistryError
from shared.messages.artifacts import Ecosystem

__all__ = [
    "ArchiveTooLarge",
    "DigestMismatch",
    "EcosystemRules",
    "FileExists",
    "FilenameMismatch",
    "InvalidMetadata",
    "InvalidName",
    "InvalidUpload",
    "InvalidVersion",
    "NotFound",
    "PlanLimit",
    "RegistryError",
    "VersionKey",
]


class VersionKey(Protocol):
    """A sortable key: keys compare by the ecosystem's own ordering."""

    def __lt__(self, other: Any, /) -> bool: ...


class InvalidName(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_name", message)


class InvalidVersion(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_version", message)


class InvalidMetadata(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_metadata", message)


class InvalidUpload(RegistryError):
    """The upload request itself (form fields, file name, file type) is not one we take."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_upload", message)


class FilenameMismatch(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("filename_mismatch", message)


class DigestMismatch(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("digest_mismatch", message)


class ArchiveTooLarge(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("archive_too_large", message)


class FileExists(RegistryError):
    """A published file is immutable: the same file name is never accepted twice."""

    def __init__(self, message: str) -> None:
        super().__init__("file_exists", message)


class PlanLimit(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("plan_limit", message)


class NotFound(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("not_found", message)


class EcosystemRules(abc.ABC):
    """One ecosystem's rules for names and versions."""

    ecosystem: Ecosystem

    @abc.abstractmethod
    def normalize_name(self, name: str) -> str:
        """The form two spellings of the same package share (what is stored and compared)."""

    @abc.abstractmethod
    def validate_name(self, name: str) -> None:
        """Raise `InvalidName` unless `name` is a valid package name as published."""

    @abc.abstractmethod
    def parse_version(self, version: str) -> VersionKey:
        """The sort key of `version` by the ecosystem's ordering; `InvalidVersion` if unparsable."""

    @abc.abstractmethod
    def is_prerelease(self, version: str) -> bool:
        """Whether `version` is a pre-release (never a package's `stable`)."""

    def normalize_version(self, version: str) -> str:
        """The canonical spelling of a version (two spellings of one version are one row)."""
        self.parse_version(version)
        return version

    def purl_parts(self, name: str) -> tuple[str | None, str]:
        """(namespace, name) of a package URL; scoped ecosystems split their names here."""
        return None, self.normalize_name(name)

    def purl(self, name: str, version: str) -> str:
        namespace, short = self.purl_parts(name)
        return str(PackageURL(type=self.ecosystem.value, namespace=namespace, name=short, version=version))

    def latest(self, versions: list[str], *, stable_only: bool = False) -> str | None:
        """The highest of `versions` (the caller leaves out yanked ones); pre-releases excluded
        when `stable_only`."""
        candidates = [v for v in versions if not (stable_only and self.is_prerelease(v))]
        if not candidates:
            return None
        return max(candidates, key=self.parse_version)

    def newest_first(self, versions: list[str]) -> list[str]:
        return sorted(versions, key=self.parse_version, reverse=True)
