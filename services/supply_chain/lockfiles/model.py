"""What every lockfile parser returns, and the bounds it reads within."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LOCKFILE_BYTES = 32 * 1024 * 1024
"""A monorepo's package-lock.json reaches a few MB; past this a file is refused unread."""


class LockfileError(ValueError):
    """A file that cannot be read as the format its name says (or is too large, or hostile)."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


@dataclass(frozen=True)
class LockedComponent:
    ecosystem: str
    """The OSV ecosystem name (`PyPI`, `npm`, `Go`, `Maven`, `crates.io`), as advisories write it."""
    name: str
    version: str
    dev: bool = False
    """Only for development, tests or builds (npm's `dev`, Maven's `test` scope)."""
    hashes: tuple[str, ...] = ()
    """`algorithm:hex` as the file gives them (requirements' `--hash`)."""

    def as_tuple(self) -> tuple[str, str, str]:
        """The (ecosystem, name, version) `AdvisoryIndex.audit` takes."""
        return self.ecosystem, self.name, self.version


@dataclass(frozen=True)
class Skipped:
    where: str
    """A line number, a package path or a dependency's name: where a reader finds it in the file."""
    reason: str


@dataclass(frozen=True)
class LockfileResult:
    format: str
    components: tuple[LockedComponent, ...]
    skipped: tuple[Skipped, ...] = field(default=())
    """What the file names but no version can be read for (a range, a local path): not scanned."""


def decoded(filename: str, content: bytes, *, max_bytes: int = MAX_LOCKFILE_BYTES) -> str:
    if len(content) > max_bytes:
        raise LockfileError(filename, f"{len(content)} bytes, more than the {max_bytes} a lockfile may have")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LockfileError(filename, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
