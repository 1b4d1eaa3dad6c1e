"""go.sum: the modules whose code the build downloaded, at the version it selected.

Each module version has up to two lines: `<module> <version> h1:...` for its code and
`<module> <version>/go.mod h1:...` for its go.mod alone. A version with only the second was read
while selecting versions but is not built, so it is skipped; when several versions of a module have
code, minimal version selection built the highest.

go.sum records hashes, not which module requires which (`go mod graph` knows that; go.sum does not):
every module is a dependency of the file itself, so a finding's path is [file, module].
"""

from __future__ import annotations

from services.supply_chain.lockfiles.model import (
    LockedComponent,
    LockfileError,
    LockfileResult,
    Skipped,
    decoded,
)
from services.supply_chain.versions import GO, InvalidVersion


def parse(filename: str, content: bytes) -> LockfileResult:
    with_code: dict[str, list[str]] = {}
    mod_only: dict[str, set[str]] = {}
    for number, line in enumerate(decoded(filename, content).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not fields[2].startswith("h1:"):
            raise LockfileError(filename, f"line {number} is not `module version h1:hash`")
        module, version, _ = fields
        if version.endswith("/go.mod"):
            mod_only.setdefault(module, set()).add(version.removesuffix("/go.mod"))
        elif version not in with_code.setdefault(module, []):
            with_code[module].append(version)
    components: list[LockedComponent] = []
    skipped: list[Skipped] = []
    for module, versions in with_code.items():
        try:
            chosen = max(versions, key=GO.key)
        except InvalidVersion as error:
            raise LockfileError(filename, f"{module}: {error}") from error
        components.append(LockedComponent("Go", module, chosen))
    for module, listed in mod_only.items():
        for version in sorted(listed - set(with_code.get(module, ()))):
            skipped.append(Skipped(f"{module} {version}", "only its go.mod is hashed: not part of the build"))
    return LockfileResult("go.sum", tuple(components), tuple(skipped))
