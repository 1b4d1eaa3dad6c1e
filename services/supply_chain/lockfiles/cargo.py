"""Cargo.lock: every `[[package]]` that came from crates.io, and who depends on whom.

Workspace members and path dependencies have no `source`; git and alternative-registry packages
have another source: neither is a crates.io release, so their advisories (which name crates.io)
do not apply, and they are reported as skipped.

Each package's `dependencies` name packages of the same file: `"name"` when one version of that name
is locked, `"name version"` when several are, `"name version (source)"` when one version comes from
several sources (Cargo.lock version 1 always writes the source). The project's direct dependencies
are those of the packages without a source (the workspace's own crates); a git or registry package
that is not scanned is passed through to what it depends on.
"""

from __future__ import annotations

import tomllib
from typing import Any

from services.supply_chain.lockfiles.model import (
    LockedComponent,
    LockfileError,
    LockfileResult,
    Node,
    Skipped,
    contract,
    decoded,
)

CRATES_IO_SOURCES = (
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
)

PackageKey = tuple[str, str, str | None]
"""(name, version, source) of a `[[package]]`: unique within one Cargo.lock."""


def parse(filename: str, content: bytes) -> LockfileResult:
    try:
        data = tomllib.loads(decoded(filename, content))
    except RecursionError as error:
        raise LockfileError(filename, "nests too deeply to be a lockfile") from error
    except tomllib.TOMLDecodeError as error:
        raise LockfileError(filename, f"not TOML: {error}") from error
    packages = data.get("package", [])
    if not isinstance(packages, list):
        raise LockfileError(filename, "`package` is not an array of tables")
    if isinstance(data.get("root"), dict):
        packages = [data["root"], *packages]  # version 1's workspace crate
    components: list[LockedComponent] = []
    skipped: list[Skipped] = []
    entries: list[tuple[PackageKey, dict[str, Any]]] = []
    nodes: dict[PackageKey, Node] = {}
    for entry in packages:
        if not isinstance(entry, dict):
            raise LockfileError(filename, "`package` is not an array of tables")
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise LockfileError(filename, f"a [[package]] without a name and version: {entry!r}"[:300])
        source = entry.get("source")
        if source is not None and not isinstance(source, str):
            raise LockfileError(filename, f"{name} {version}: `source` is not a string")
        key = (name, version, source)
        entries.append((key, entry))
        if source is None:
            continue  # the workspace's own crates
        if source not in CRATES_IO_SOURCES:
            skipped.append(Skipped(f"{name} {version}", f"from {source.split('+', 1)[0]}, not crates.io"))
            continue
        component = LockedComponent("crates.io", name, version)
        components.append(component)
        nodes[key] = component.as_tuple()
    roots = [key for key, _ in entries if key[2] is None]
    graph = contract(roots, _depends_on(filename, entries), nodes)
    return LockfileResult("Cargo.lock", tuple(components), tuple(skipped), graph)


def _depends_on(
    filename: str, entries: list[tuple[PackageKey, dict[str, Any]]]
) -> dict[PackageKey, list[PackageKey]]:
    by_name: dict[str, list[PackageKey]] = {}
    for key, _ in entries:
        by_name.setdefault(key[0], []).append(key)
    edges: dict[PackageKey, list[PackageKey]] = {}
    for key, entry in entries:
        listed = entry.get("dependencies", [])
        if not isinstance(listed, list) or not all(isinstance(d, str) for d in listed):
            raise LockfileError(filename, f"{key[0]} {key[1]}: `dependencies` is not an array of strings")
        edges[key] = [target for text in listed for target in _resolve(by_name, text)]
    return edges


def _resolve(by_name: dict[str, list[PackageKey]], text: str) -> list[PackageKey]:
    """The packages a `dependencies` entry names (one, unless the file is inconsistent)."""
    name, _, rest = text.strip().partition(" ")
    version, _, source = rest.strip().partition(" ")
    source = source.strip().removeprefix("(").removesuffix(")")
    return [
        key
        for key in by_name.get(name, ())
        if (not version or key[1] == version) and (not source or key[2] == source)
    ]
