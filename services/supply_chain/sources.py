"""The OSV files inside what an import is handed: a directory, a tar archive (`.tar.gz`, `.tgz`,
`.tar`) or a zip (the format of the OSV and GitHub database exports). Reads, never writes.

Only `.json`, `.yaml` and `.yml` members are records; LICENSE, README and the like are skipped.

An archive is read whole, through the safe archive inspection the registry uses too (`shared.archives`:
decompressed bytes counted as they come, never trusting a header), before any record is handed
out: one past `ADVISORY_ARCHIVE_LIMITS` (a zip or gzip bomb, a member too large to be an advisory,
too many members) or holding what no export holds (links, `..` paths, duplicate names) is refused
whole (`ArchiveRefused`), so an import of it changes nothing. A directory is the operator's own
disk and is read as it is.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from shared.archives import (
    ArchiveKind,
    ArchiveLimits,
    InvalidArchive,
    UnsafeArchive,
    inspect_archive,
)

OSV_SUFFIXES = (".json", ".yaml", ".yml")

_MIB = 1024 * 1024

ADVISORY_ARCHIVE_LIMITS = ArchiveLimits(
    # OSV's per-ecosystem exports hold up to some tens of thousands of records (plus directories).
    max_members=1_000_000,
    # Every record is held in memory while an import reads them: what a replica can afford, about
    # ten times the largest per-ecosystem export.
    max_total_uncompressed=2048 * _MIB,
    # Records compress 5-15:1 (tar headers and padding included); zeros deflate ~1000:1. Judged past
    # the first MiB of a member (zip) or of the stream (tar), so small files never trip it.
    max_ratio=100.0,
    # One record is a few KiB; those listing thousands of affected versions stay far below this.
    max_member_bytes=16 * _MIB,
)


class ArchiveRefused(ValueError):
    """An archive an import will not read: `kind` is `unsafe_archive` (past a limit, or holding
    links, absolute or `..` paths, duplicates) or `invalid_archive` (corrupt, truncated)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def describe_limits(limits: ArchiveLimits) -> str:
    return (
        f"at most {limits.max_total_uncompressed} bytes decompressed, {limits.max_member_bytes} bytes "
        f"per member, {limits.max_members} members, {limits.max_ratio:g}:1 compression"
    )


def osv_files(path: Path, limits: ArchiveLimits = ADVISORY_ARCHIVE_LIMITS) -> Iterator[tuple[str, bytes]]:
    """(name inside the source, content) of every OSV file, in a stable order; an archive past
    `limits` or otherwise unsafe raises ArchiveRefused before the first file is yielded."""
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(OSV_SUFFIXES)):
            yield str(file.relative_to(path)), file.read_bytes()
        return
    if zipfile.is_zipfile(path):
        kind = ArchiveKind.ZIP
    elif tarfile.is_tarfile(path):
        kind = ArchiveKind.TAR
    else:
        raise ValueError(f"{path}: not a directory, a tar archive or a zip of OSV files")
    try:
        with path.open("rb") as archive:
            listing = inspect_archive(archive, kind, limits, capture=lambda name: name.endswith(OSV_SUFFIXES))
    except UnsafeArchive as error:
        raise ArchiveRefused(error.code, f"{error.message} ({describe_limits(limits)})") from None
    except InvalidArchive as error:
        raise ArchiveRefused(error.code, error.message) from None
    for name in sorted(listing.captured):
        yield name, listing.captured[name]
