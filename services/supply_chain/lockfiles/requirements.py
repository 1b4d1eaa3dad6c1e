"""pip requirements files: pinned requirements (`name==version`, `===`), with their `--hash` options.

Read as pip reads them: `\\` joins lines, ` #` starts a comment, option lines are not packages. A
requirement that is not pinned to one version, an editable or direct-URL install, and an included
file (`-r`, `-c`: the caller scans it as a file of its own) are reported as skipped, not guessed.

A requirements file is a flat list (pip-compile's `# via` lines are comments, not a format): every
requirement is a dependency of the file itself, so a finding's path is [file, package].
"""

from __future__ import annotations

import re

from packaging.requirements import InvalidRequirement, Requirement

from services.supply_chain.lockfiles.model import LockedComponent, LockfileResult, Skipped, decoded

_COMMENT = re.compile(r"(^|\s+)#.*$")
_HASH = re.compile(r"\s--hash[=\s]\s*(\S+)")
_INCLUDES = ("-r", "--requirement", "-c", "--constraint")
_EDITABLE = ("-e", "--editable")


def parse(filename: str, content: bytes) -> LockfileResult:
    components: list[LockedComponent] = []
    skipped: list[Skipped] = []
    for number, line in _logical_lines(decoded(filename, content)):
        where = f"line {number}"
        if line.startswith("-"):
            option = line.split(maxsplit=1)[0].split("=", 1)[0]
            if option in _INCLUDES:
                skipped.append(Skipped(where, f"includes another file ({line}): scan that file too"))
            elif option in _EDITABLE:
                skipped.append(Skipped(where, "an editable install has no released version"))
            continue  # --index-url, --find-links, ...: where packages come from, not packages
        hashes = tuple(_HASH.findall(" " + line))
        text = _HASH.sub("", " " + line).strip()
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            skipped.append(Skipped(where, f"not a requirement: {error}"))
            continue
        if requirement.url:
            skipped.append(Skipped(where, f"{requirement.name} comes from a URL, not an index version"))
            continue
        version = _pinned(requirement)
        if version is None:
            shown = str(requirement.specifier) or "any version"
            skipped.append(Skipped(where, f"{requirement.name} is not pinned to one version ({shown})"))
            continue
        components.append(LockedComponent("PyPI", requirement.name, version, hashes=hashes))
    return LockfileResult("requirements.txt", tuple(components), tuple(skipped))


def _pinned(requirement: Requirement) -> str | None:
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and not specs[0].version.endswith(".*"):
        return specs[0].version
    return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, text) of each requirement, continuations joined, comments cut."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        stripped = _COMMENT.sub("", raw)
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        joined = " ".join([*pending, stripped]).strip()
        pending = []
        if joined:
            lines.append((start, joined))
    if pending and (tail := " ".join(pending).strip()):
        lines.append((start, tail))
    return lines
