"""Does a declared requirement name exactly one version, in its ecosystem's own syntax?

`==1.2.3` (PyPI), `1.2.3` (npm), `=1.2.3` (Cargo: a bare `1.2.3` is a caret range), `v1.2.3` (a Go
module's require), `[1.2.3]` and Maven's soft requirement `1.2.3`: each names the version the
dependency resolves to, so it can be scanned as that version. Ranges cannot.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet

_EXACT_SEMVER = re.compile(r"^=?\s*v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$")
_MAVEN_EXACT = re.compile(r"^\[\s*([^,\[\]()\s]+)\s*\]$")
_MAVEN_SOFT = re.compile(r"^[^,\[\]()\s$]+$")


def pinned_version(ecosystem: str, requirement: str) -> str | None:
    """The one version a requirement allows, in the ecosystem's own syntax, else None."""
    requirement = requirement.strip()
    if not requirement:
        return None
    if ecosystem == "pypi":
        try:
            specs = list(SpecifierSet(requirement))
        except InvalidSpecifier:
            return None
        if len(specs) == 1 and specs[0].operator in ("==", "===") and not specs[0].version.endswith("*"):
            return specs[0].version
        return None
    if ecosystem == "npm":
        match = _EXACT_SEMVER.match(requirement)
        return match.group(1) if match else None
    if ecosystem == "cargo":
        # A bare `1.2.3` is Cargo's caret requirement: only `=` pins.
        match = _EXACT_SEMVER.match(requirement) if requirement.startswith("=") else None
        return match.group(1) if match else None
    if ecosystem == "golang":
        # go.mod's require names one version; minimal version selection builds with it unless another
        # module requires a higher one, which only a full build list (go.sum, `mno scan`) shows.
        return requirement if re.fullmatch(r"v\d+\.\d+\.\d+\S*", requirement) else None
    if ecosystem == "maven":
        exact = _MAVEN_EXACT.match(requirement)
        if exact:
            return exact.group(1)
        # A bare version is Maven's soft requirement: the version used unless a conflict moves it.
        return requirement if _MAVEN_SOFT.match(requirement) else None
    return None


def maven_exact_version(requirement: str) -> str | None:
    return pinned_version("maven", requirement)
