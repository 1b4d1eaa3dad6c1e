"""npm's package-lock.json (and npm-shrinkwrap.json), lockfileVersion 1, 2 and 3: the `packages` map.

Each key is an install path (`node_modules/a/node_modules/@s/b`); the package's name is the part after
the last `node_modules/`, unless the entry names another (an alias: `"name": "real-package"`).
Workspace links and the root project are not packages from the registry.

Version 1 files (npm 5 and 6) have no `packages` map but a tree of `dependencies`, each entry's own
`dependencies` being what is installed in its `node_modules`: the tree is rewritten into the map it
stands for (`requires` are an entry's dependencies; `npm:real@1.2.3` an alias; a git, file or URL
version a package not from the registry), so both are read alike. A v1 file does not record the
project's own dependencies: the caller may give them (a published tarball's package.json declares
them), else every top-level package is taken as one.

Who depends on whom is each entry's `dependencies`, `optionalDependencies` and `peerDependencies`
(and, for the project and its workspace folders, `devDependencies`: installed for them only), each
name resolved as Node resolves it: from `node_modules/a`, a dependency `x` is
`node_modules/a/node_modules/x` when that exists, else the same one folder up, up to the top
`node_modules/x`. The project's direct dependencies are those of `packages[""]` and of its workspace
folders; a link, a git or local package is passed through to what it depends on. A dependency that
resolves to nothing (an optional one not installed on this platform, a missing peer) is left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

_MARKER = "node_modules/"
_DEPENDENCY_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")
_FOREIGN_SOURCES = ("file:", "git+", "git:", "github:")
# A v1 `version` naming where the package came from instead of a registry version.
_V1_FOREIGN = (*_FOREIGN_SOURCES, "http:", "https:", "link:", "gitlab:", "bitbucket:")
_ALIAS = "npm:"


def parse(
    filename: str, content: bytes, *, root_dependencies: Mapping[str, str] | None = None
) -> LockfileResult:
    """`root_dependencies` (name -> requirement) stand for the project's own in a v1 file."""
    data = _load(filename, content)
    version = data.get("lockfileVersion")
    packages = data.get("packages")
    if version == 1 and packages is None:
        packages = _v1_packages(filename, data.get("dependencies"), root_dependencies)
    elif version not in (2, 3) or not isinstance(packages, dict):
        raise LockfileError(
            filename,
            f"lockfileVersion {version!r} has no `packages` map and is no version 1 tree: "
            "versions 1, 2 and 3 are read",
        )
    components: dict[tuple[str, str], LockedComponent] = {}
    skipped: list[Skipped] = []
    nodes: dict[str, Node] = {}
    for path, entry in packages.items():
        if not path or not isinstance(entry, dict):
            continue  # "" is the project itself
        if _MARKER not in path:
            continue  # a workspace member's own folder: its packages appear under node_modules
        if entry.get("link"):
            continue  # a symlink to a workspace folder, described by that folder's entry
        name = entry.get("name") or path.rsplit(_MARKER, 1)[1]
        version = entry.get("version")
        if not isinstance(version, str) or not version:
            skipped.append(Skipped(path, "no version recorded"))
            continue
        source = _foreign_source(entry)
        if source is not None:
            skipped.append(Skipped(path, f"{name} comes from {source.split(':', 1)[0]}, not the registry"))
            continue
        dev = bool(entry.get("dev") or entry.get("devOptional"))
        key = (name, version)
        held = components.get(key)
        # The same version installed at two paths: dev only if every copy is.
        components[key] = LockedComponent("npm", name, version, dev=dev and (held is None or held.dev))
        nodes[path] = components[key].as_tuple()
    roots = [path for path, entry in packages.items() if _MARKER not in path and isinstance(entry, dict)]
    graph = contract(roots, _depends_on(packages), nodes)
    return LockfileResult("package-lock.json", tuple(components.values()), tuple(skipped), graph)


def _depends_on(packages: dict[str, Any]) -> dict[str, list[str]]:
    """Each install path's dependencies, as the install paths they resolve to (a link: its target)."""
    edges: dict[str, list[str]] = {}
    for path, entry in packages.items():
        if not isinstance(entry, dict):
            continue
        if entry.get("link"):
            target = entry.get("resolved")
            if isinstance(target, str) and target in packages:
                edges[path] = [target]
            continue
        fields = _DEPENDENCY_FIELDS if _MARKER in path else (*_DEPENDENCY_FIELDS, "devDependencies")
        names = {name for f in fields if isinstance(entry.get(f), dict) for name in entry[f]}
        resolved = (_resolve(packages, path, name) for name in sorted(names))
        edges[path] = [target for target in resolved if target is not None]
    return edges


def _resolve(packages: dict[str, Any], location: str, name: str) -> str | None:
    """The install path Node finds `name` at from the package installed at `location`: the nearest
    `node_modules/name` of that folder or one above it."""
    parts = location.split("/") if location else []
    for depth in range(len(parts), -1, -1):
        if depth and parts[depth - 1] == "node_modules":
            continue  # Node does not look in node_modules/node_modules
        folder = "/".join(parts[:depth])
        candidate = f"{folder}/{_MARKER}{name}" if folder else f"{_MARKER}{name}"
        if candidate in packages:
            return candidate
    return None


def _foreign_source(entry: dict[str, Any]) -> str | None:
    """Where a package not from the registry came from: v2 keeps it in `resolved`, v1 writes it as the
    version (a v2 version is always a registry version)."""
    source = entry.get("resolved")
    if isinstance(source, str) and source.startswith(_FOREIGN_SOURCES):
        return source
    version = entry.get("version")
    if isinstance(version, str) and version.startswith(_V1_FOREIGN):
        return version
    return None


def _v1_packages(
    filename: str, tree: Any, root_dependencies: Mapping[str, str] | None
) -> dict[str, dict[str, Any]]:
    """A v1 `dependencies` tree as the v2 `packages` map it describes (walked without recursion: a
    hostile file may nest as deep as its JSON allows)."""
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise LockfileError(filename, "a version 1 lockfile's `dependencies` is a JSON object")
    own = dict(root_dependencies) if root_dependencies is not None else dict.fromkeys(tree, "*")
    packages: dict[str, dict[str, Any]] = {"": {"dependencies": own}}
    pending: list[tuple[str, dict[str, Any]]] = [("", tree)]
    while pending:
        folder, entries = pending.pop()
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                continue
            path = f"{folder}{_MARKER}{name}"
            packages[path] = _v1_entry(entry)
            nested = entry.get("dependencies")
            if isinstance(nested, dict):
                pending.append((f"{path}/", nested))
    return packages


def _v1_entry(entry: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {key: entry[key] for key in ("dev", "optional", "resolved") if key in entry}
    version = entry.get("version")
    if isinstance(version, str) and version.startswith(_ALIAS):
        real, _, real_version = version[len(_ALIAS) :].rpartition("@")
        converted |= {"name": real, "version": real_version}
    elif isinstance(version, str):
        converted["version"] = version  # a git, file or URL source stays: `_foreign_source` tells
    requires = entry.get("requires")
    if isinstance(requires, dict):
        converted["dependencies"] = requires
    return converted


def _load(filename: str, content: bytes) -> dict[str, Any]:
    try:
        data = json.loads(decoded(filename, content))
    except RecursionError as error:
        raise LockfileError(filename, "nests too deeply to be a lockfile") from error
    except ValueError as error:
        raise LockfileError(filename, f"not JSON: {error}") from error
    if not isinstance(data, dict):
        raise LockfileError(filename, "a package-lock.json is a JSON object")
    return data
