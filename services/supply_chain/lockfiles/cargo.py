"""Cargo.lock: every `[[package]]` that came from crates.io.

Workspace members and path dependencies have no `source`; git and alternative-registry packages
have another source: neither is a crates.io release, so their advisories (which name crates.io)
do not apply, and they are reported as skipped.
"""

from __future__ import annotations

import tomllib

from services.supply_chain.lockfiles.model import (
    LockedComponent,
    LockfileError,
    LockfileResult,
    Skipped,
    decoded,
)

CRATES_IO_SOURCES = (
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
)


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
    components: list[LockedComponent] = []
    skipped: list[Skipped] = []
    for entry in packages:
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise LockfileError(filename, f"a [[package]] without a name and version: {entry!r}"[:300])
        source = entry.get("source")
        if source is None:
            continue  # the workspace's own crates
        if source not in CRATES_IO_SOURCES:
            skipped.append(Skipped(f"{name} {version}", f"from {source.split('+', 1)[0]}, not crates.io"))
            continue
        components.append(LockedComponent("crates.io", name, version))
    return LockfileResult("Cargo.lock", tuple(components), tuple(skipped))
