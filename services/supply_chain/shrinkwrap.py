"""The npm-shrinkwrap.json a published npm tarball carries, read as the lockfile it is.

npm never publishes a package-lock.json, but it does publish an npm-shrinkwrap.json, and installs a
package that has one with exactly the versions it names (nested `node_modules` included): for such a
version those are the dependencies that reach its users, not the ranges of its package.json.

The tarball is read through the safe archive inspection (`shared.archives`) under the registry's own
archive limits, as the registry read it when it accepted the publish: a tarball that became unsafe
there is refused here too rather than half-read. The shrinkwrap is the one beside the package.json
(`package/` in every tarball `npm pack` makes; the registry takes any one top folder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from services.supply_chain.lockfiles import npm
from services.supply_chain.lockfiles.model import MAX_LOCKFILE_BYTES, LockfileResult
from shared.archives import ArchiveKind, ArchiveLimits, inspect_archive

SHRINKWRAP = "npm-shrinkwrap.json"
_PACKED = f"package/{SHRINKWRAP}"


def _is_shrinkwrap(member: str) -> bool:
    return member.count("/") == 1 and member.endswith(f"/{SHRINKWRAP}")


def shrinkwrap_of(tarball: IO[bytes], limits: ArchiveLimits) -> bytes | None:
    """The tarball's npm-shrinkwrap.json, or None. Refusals of `shared.archives` (an unsafe or
    unreadable tarball, a shrinkwrap past the lockfile bound) propagate."""
    listing = inspect_archive(
        tarball,
        ArchiveKind.TAR,
        limits,
        capture=_is_shrinkwrap,
        capture_limit=min(MAX_LOCKFILE_BYTES, limits.max_member_bytes),
    )
    found = listing.captured
    if _PACKED in found:
        return found[_PACKED]
    # A tarball packed by another tool: its one top folder, as the registry found its package.json.
    return next(iter(found.values())) if len(found) == 1 else None


def locked_dependencies(
    tarball: IO[bytes], limits: ArchiveLimits, declared: Mapping[str, str]
) -> LockfileResult | None:
    """What the tarball's shrinkwrap installs, or None without one. `declared` (name -> requirement,
    from the version's package.json) are the project's own dependencies where the file does not
    record them (lockfileVersion 1). LockfileError for a shrinkwrap that cannot be read."""
    content = shrinkwrap_of(tarball, limits)
    if content is None:
        return None
    return npm.parse(SHRINKWRAP, content, root_dependencies=declared)
