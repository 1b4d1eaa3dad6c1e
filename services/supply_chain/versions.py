"""Each ecosystem's own version ordering, behind one small interface.

An ordering turns a version string into a key compared only with `<`, `<=`, `>`, `>=` (never `==`:
SemVer keys that differ only in build metadata are unequal yet of the same precedence, and the
ordering operators are the ones that follow SemVer's section 11).

univers supplies the orderings of npm, crates.io and Go (SemVer 2.0), Maven, NuGet and RubyGems.
PyPI uses `packaging` directly: univers' PypiVersion is `packaging.version.Version` under a wrapper
that parses every string twice (same order, about five times the cost), so the wrapper adds nothing.
univers' SemVer parser coerces (`1.2` reads as 1.2.0, `1.2.3.4` as 1.2.3+4): lenient where OSV says
SemVer, which only makes more records evaluable.

A new ecosystem plugs in with one `Ordering` in `ORDERINGS` (its OSV ecosystem name, before any
`:suffix`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import packaging.version
from univers.versions import (
    GolangVersion,
    MavenVersion,
    NugetVersion,
    RubygemsVersion,
    SemverVersion,
)

from services.supply_chain.ecosystems import normalise_ecosystem


class InvalidVersion(ValueError):
    """The string is not a version of this ordering (so no range over it can be evaluated)."""


_INVALID = object()


@lru_cache(maxsize=1 << 16)
def _parse(parser: Callable[[str], Any], version: str) -> Any:
    # Versions repeat across advisories and components: each distinct string is parsed once.
    try:
        return parser(version)
    except (ValueError, TypeError):
        return _INVALID


def clear_cache() -> None:
    """Forget parsed versions (benchmarks measure a cold audit with it)."""
    _parse.cache_clear()
    _identities.cache_clear()


@lru_cache(maxsize=1 << 12)
def _identities(ordering: Ordering, listed: tuple[str, ...]) -> frozenset[Any]:
    # Advisories list hundreds of versions and are asked about again and again: hash them once.
    assert ordering.identity is not None
    found = set()
    for version in listed:
        parsed = _parse(ordering.parser, version)
        if parsed is not _INVALID:
            found.add(ordering.identity(parsed))
    return frozenset(found)


@dataclass(frozen=True)
class Ordering:
    name: str
    parser: Callable[[str], Any]
    identity: Callable[[Any], Any] | None = None
    """Hashable, equal exactly for keys of equal precedence: makes `listed` a set lookup."""

    def key(self, version: str) -> Any:
        """A comparable key of `version`; raises InvalidVersion if the ordering cannot read it."""
        parsed = _parse(self.parser, version)
        if parsed is _INVALID:
            raise InvalidVersion(f"{version!r} is not a {self.name} version")
        return parsed

    def precedes(self, a: str, b: str) -> bool:
        return bool(self.key(a) < self.key(b))

    def same(self, a: str, b: str) -> bool:
        """Equal precedence (`1.0` and `1.0.0` in PEP 440; `1.0.0` and `1.0.0+build` in SemVer)."""
        key_a, key_b = self.key(a), self.key(b)
        return not (key_a < key_b or key_b < key_a)

    def listed(self, version: str, versions: tuple[str, ...]) -> bool:
        """`version` has the precedence of one of `versions` (unreadable ones never match)."""
        key = self.key(version)
        if self.identity is not None:
            return self.identity(key) in _identities(self, versions)
        for other in versions:
            try:
                if self.same(version, other):
                    return True
            except InvalidVersion:
                continue
        return False


def _univers(cls: type[Any]) -> Callable[[str], Any]:
    def parse(version: str) -> Any:
        return cls(version).value

    parse.__qualname__ = f"univers.{cls.__name__}"
    return parse


def _semver_precedence(key: Any) -> tuple[Any, ...]:
    # semantic_version's == compares build metadata, which SemVer's precedence ignores.
    return (key.major, key.minor, key.patch, key.prerelease)


PEP440 = Ordering("PEP 440", packaging.version.Version, identity=lambda key: key)
SEMVER = Ordering("SemVer 2.0", _univers(SemverVersion), _semver_precedence)
GO = Ordering("Go module", _univers(GolangVersion), _semver_precedence)  # SemVer, written with a `v`
MAVEN = Ordering("Maven", _univers(MavenVersion))
NUGET = Ordering("NuGet", _univers(NugetVersion))
RUBYGEMS = Ordering("RubyGems", _univers(RubygemsVersion))

ORDERINGS: dict[str, Ordering] = {
    "PyPI": PEP440,
    "npm": SEMVER,
    "crates.io": SEMVER,
    "Go": GO,
    "Maven": MAVEN,
    "NuGet": NUGET,
    "RubyGems": RUBYGEMS,
}


def ordering_for(ecosystem: str) -> Ordering | None:
    """The ordering of an OSV ecosystem (`Maven:https://…` is Maven's), or None if we have none."""
    return ORDERINGS.get(normalise_ecosystem(ecosystem).split(":", 1)[0])
