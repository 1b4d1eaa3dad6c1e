"""Ecosystem and package-name normalisation, so an advisory and a component name the same package.

Only ecosystems whose registry treats spellings as one package are folded: PyPI (PEP 503: case and
runs of `-`, `_`, `.`), crates.io (case, `-` and `_`: crates.io refuses a name that differs from an
existing one only so), NuGet (case-insensitive ids). npm, Go, Maven and RubyGems names are compared
as written: npm still serves legacy mixed-case packages distinct from their lowercase namesakes.
"""

from __future__ import annotations

from functools import lru_cache

from packaging.utils import canonicalize_name

# OSV ecosystem names are case-sensitive; callers (lockfile parsers, users) often are not.
_CANONICAL_ECOSYSTEMS = {
    name.lower(): name
    for name in ("PyPI", "npm", "crates.io", "Go", "Maven", "NuGet", "RubyGems", "Packagist", "Hex", "Pub")
}


@lru_cache(maxsize=256)
def normalise_ecosystem(ecosystem: str) -> str:
    """`pypi` → `PyPI`; a `:suffix` (Maven's repository, a distribution's release) is kept."""
    base, sep, suffix = ecosystem.strip().partition(":")
    return _CANONICAL_ECOSYSTEMS.get(base.lower(), base) + sep + suffix


@lru_cache(maxsize=1 << 16)  # every match normalises each entry's name
def normalise_name(ecosystem: str, name: str) -> str:
    base = normalise_ecosystem(ecosystem).split(":", 1)[0]
    name = name.strip()
    if base == "PyPI":
        return str(canonicalize_name(name))
    if base == "crates.io":
        return name.lower().replace("_", "-")
    if base == "NuGet":
        return name.lower()
    return name
