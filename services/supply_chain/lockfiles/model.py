"""What every lockfile parser returns, and the bounds it reads within."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

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


Node = tuple[str, str, str]
"""A component in a dependency graph: its (ecosystem, name, version), as `LockedComponent.as_tuple`."""


@dataclass(frozen=True)
class Skipped:
    where: str
    """A line number, a package path or a dependency's name: where a reader finds it in the file."""
    reason: str


@dataclass(frozen=True)
class DependencyGraph:
    """Who depends on whom among a lockfile's components, as the file records it."""

    direct: tuple[Node, ...]
    """The root project's own dependencies (npm's `packages[""]`, Cargo's workspace members)."""
    depends_on: tuple[tuple[Node, tuple[Node, ...]], ...] = ()
    """(component, the components it depends on), for every component that depends on something."""


@dataclass(frozen=True)
class LockfileResult:
    format: str
    components: tuple[LockedComponent, ...]
    skipped: tuple[Skipped, ...] = field(default=())
    """What the file names but no version can be read for (a range, a local path): not scanned."""
    graph: DependencyGraph | None = None
    """Who depends on whom, for the formats that record it (package-lock.json, Cargo.lock). None:
    every component is a dependency of the file itself (requirements.txt, go.sum, pom.xml)."""


Key = TypeVar("Key", bound=Hashable)


def contract(
    roots: Iterable[Key], depends_on: Mapping[Key, Iterable[Key]], nodes: Mapping[Key, Node]
) -> DependencyGraph:
    """A file's own graph (keyed as the format keys packages: an install path, a name and version)
    reduced to its components: `nodes` names the keys that are components; every other key (the
    project, a workspace member, a package that is not scanned, such as a git dependency) is passed
    through, so what it depends on hangs from whatever depends on it. Keys several of which are one
    component (npm's copies of one version at two paths) merge."""

    def reached(starts: Iterable[Key]) -> set[Node]:
        found: set[Node] = set()
        seen: set[Key] = set()
        queue = deque(starts)
        while queue:
            key = queue.popleft()
            if key in seen:
                continue
            seen.add(key)
            if key in nodes:
                found.add(nodes[key])
            else:
                queue.extend(depends_on.get(key, ()))
        return found

    root_keys = list(roots)
    direct = reached(k for root in root_keys for k in depends_on.get(root, ()))
    edges: dict[Node, set[Node]] = {}
    for key, node in nodes.items():
        targets = reached(depends_on.get(key, ()))
        if targets:
            edges.setdefault(node, set()).update(targets)
    return DependencyGraph(
        direct=tuple(sorted(direct)),
        depends_on=tuple((node, tuple(sorted(targets))) for node, targets in sorted(edges.items())),
    )


def bounded(filename: str, content: bytes, *, max_bytes: int = MAX_LOCKFILE_BYTES) -> bytes:
    """The content, unless it is past the bound (refused unread)."""
    if len(content) > max_bytes:
        raise LockfileError(filename, f"{len(content)} bytes, more than the {max_bytes} a lockfile may have")
    return content


def decoded(filename: str, content: bytes, *, max_bytes: int = MAX_LOCKFILE_BYTES) -> str:
    bounded(filename, content, max_bytes=max_bytes)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LockfileError(filename, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
