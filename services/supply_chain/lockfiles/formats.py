"""Which parser reads a file, by its name (as `mno scan` and the API receive it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from services.supply_chain.lockfiles import cargo, gosum, maven, npm, requirements
from services.supply_chain.lockfiles.model import LockfileError, LockfileResult

Parser = Callable[[str, bytes], LockfileResult]

PARSERS: dict[str, Parser] = {
    "package-lock.json": npm.parse,
    "npm-shrinkwrap.json": npm.parse,
    "go.sum": gosum.parse,
    "pom.xml": maven.parse,
    "Cargo.lock": cargo.parse,
}


def parser_for(filename: str) -> Parser | None:
    name = PurePosixPath(filename.replace("\\", "/")).name
    if name in PARSERS:
        return PARSERS[name]
    if (name.endswith(".txt") and "requirements" in name) or name.endswith(".pip"):
        return requirements.parse
    return None


def parse_lockfile(filename: str, content: bytes) -> LockfileResult:
    parser = parser_for(filename)
    if parser is None:
        raise LockfileError(
            filename,
            "not a file `mno scan` reads (requirements*.txt, package-lock.json, go.sum, pom.xml, Cargo.lock)",
        )
    return parser(filename, content)
