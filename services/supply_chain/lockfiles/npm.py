"""npm's package-lock.json (and npm-shrinkwrap.json), lockfileVersion 2 and 3: the `packages` map.

Each key is an install path (`node_modules/a/node_modules/@s/b`); the package's name is the part after
the last `node_modules/`, unless the entry names another (an alias: `"name": "real-package"`).
Workspace links and the root project are not packages from the registry; version 1 files (npm 6)
have no `packages` map and are refused: `npm install` with npm 7 or later rewrites them.
"""

from __future__ import annotations

import json
from typing import Any

from services.supply_chain.lockfiles.model import (
    LockedComponent,
    LockfileError,
    LockfileResult,
    Skipped,
    decoded,
)

_MARKER = "node_modules/"


def parse(filename: str, content: bytes) -> LockfileResult:
    data = _load(filename, content)
    version = data.get("lockfileVersion")
    packages = data.get("packages")
    if version not in (2, 3) or not isinstance(packages, dict):
        raise LockfileError(
            filename,
            f"lockfileVersion {version!r} has no `packages` map: only versions 2 and 3 are read "
            "(npm 7 or later writes them)",
        )
    components: dict[tuple[str, str], LockedComponent] = {}
    skipped: list[Skipped] = []
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
        if entry.get("resolved", "").startswith(("file:", "git+", "git:", "github:")):
            skipped.append(
                Skipped(path, f"{name} comes from {entry['resolved'].split(':', 1)[0]}, not the registry")
            )
            continue
        dev = bool(entry.get("dev") or entry.get("devOptional"))
        key = (name, version)
        held = components.get(key)
        # The same version installed at two paths: dev only if every copy is.
        components[key] = LockedComponent("npm", name, version, dev=dev and (held is None or held.dev))
    return LockfileResult("package-lock.json", tuple(components.values()), tuple(skipped))


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
