"""Each ecosystem's own version ordering, behind one small interface.

An ordering turns a version string into a key compared only with `<`, `<=`, `>`, `>=` (never `==`:
SemVer keys that differ only in build metadata are unequal yet of the same precedence, and the
ordering operators are the ones that follow SemVer's section 11).

univers supplies the orderings of npm, crates.io and Go (SemVer 2.0), NuGet and RubyGems.
PyPI uses `packaging` directly: univers' PypiVersion is `packaging.version.Version` under a wrapper
that parses every string twice (same order, about five times the cost), so the wrapper adds nothing.
Maven's is our own (`maven_key`): univers' MavenVersion disagrees with Maven's ComparableVersion on
one pair in eight of ordinary versions (`5.3.0.RELEASE` is `5.3.0` to Maven, `1.0.RC1` is `1.0-rc1`,
a qualifier after a dot orders as after a hyphen), which moves range bounds and listed versions.
univers' SemVer parser coerces (`1.2` reads as 1.2.0, `1.2.3.4` as 1.2.3+4): lenient for npm's and
crates.io's own versions (ECOSYSTEM ranges), which only makes more records evaluable.

OSV's SEMVER ranges are read with `OSV_SEMVER`: SemVer 2.0 as osv.dev reads it (its
`semver_index.coerce`: a leading `v` dropped, a missing minor or patch read as 0, leading zeros of the
three numbers dropped, so `1.2` is 1.2.0 and `v01.2.3` is 1.2.3), and nothing else: `2.0rc1`,
`1.0.post1`, `1!2.0` (PEP 440) and `5.3.0.RELEASE`, `1.2.3.4` (Maven) are not SemVer, where univers
would read `1.0.post1` as 1.0.0 (build metadata) and `1!2.0` as a prerelease of 1.0.0. What a range
does with a version SemVer cannot read is the matcher's choice (`matching.range_orderings`).

A new ecosystem plugs in with one `Ordering` in `ORDERINGS` (its OSV ecosystem name, before any
`:suffix`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, total_ordering
from itertools import zip_longest
from typing import Any

import packaging.version
from univers.versions import (
    GolangVersion,
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


# SemVer 2.0's own expression (semver.org, "Is there a suggested regular expression").
_SEMVER_2 = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_SEMVER_CORE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)$", re.DOTALL)


def osv_semver(version: str) -> Any:
    """`version` as an OSV SEMVER range reads it: SemVer 2.0 after osv.dev's coercion (a leading `v`,
    a missing minor or patch, leading zeros of the numbers); ValueError for anything else."""
    text = version.removeprefix("v")
    core = _SEMVER_CORE.match(text)
    if core is not None:
        major, minor, patch, rest = core.groups()
        text = f"{int(major)}.{int(minor or 0)}.{int(patch or 0)}{rest}"
    if not _SEMVER_2.fullmatch(text):
        raise ValueError(f"{version!r} is not SemVer 2.0")
    return SemverVersion(text).value


def _semver_precedence(key: Any) -> tuple[Any, ...]:
    # semantic_version's == compares build metadata, which SemVer's precedence ignores.
    return (key.major, key.minor, key.patch, key.prerelease)


# --- Maven ---------------------------------------------------------------------------------------
# Maven's ComparableVersion (maven-artifact 3.8.7 agrees on every pair the tests compare), as the POM
# reference's "Version Order Specification" describes it: the version, lower-cased, is split at `.`,
# `-` and digit/letter transitions; a `-`, a transition, and a qualifier after a dot at the end or
# before digits (`1.0.RC1` is `1.0-rc1`) open a nested list; trailing nulls (0, "", ga, final,
# release, empty lists) are trimmed; numbers > qualifiers and lists, known qualifiers in their order
# (alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp), unknown ones after
# them, alphabetically. tests/supply_chain/test_versions.py compares it with the real maven-artifact.

_MAVEN_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_MAVEN_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_MAVEN_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_MAVEN_RELEASE = str(_MAVEN_QUALIFIERS.index(""))

# An item is an int (a number), a str (a qualifier, as its comparable form: its rank among the known
# qualifiers, or "7-" + itself) or a list (what follows a `-` or a transition).
_Item = int | str | list[Any]


def _maven_qualifier(text: str, followed_by_digit: bool) -> str:
    if followed_by_digit and text in _MAVEN_SHORT:
        text = _MAVEN_SHORT[text]  # a1 = alpha-1, b2 = beta-2, m3 = milestone-3
    text = _MAVEN_ALIASES.get(text, text)
    if text in _MAVEN_QUALIFIERS:
        return str(_MAVEN_QUALIFIERS.index(text))
    return f"{len(_MAVEN_QUALIFIERS)}-{text}"


def _maven_is_null(item: _Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, str):
        return item == _MAVEN_RELEASE
    return not item


def _maven_compare(left: _Item, right: _Item | None) -> int:
    if isinstance(left, int):
        if right is None:
            return 0 if left == 0 else 1
        if isinstance(right, int):
            return (left > right) - (left < right)
        return 1  # 1.1 > 1-sp, 1.1 > 1-1
    if isinstance(left, str):
        if right is None:
            return (left > _MAVEN_RELEASE) - (left < _MAVEN_RELEASE)  # 1-rc < 1 < 1-sp
        if isinstance(right, str):
            return (left > right) - (left < right)
        return -1  # 1.any < 1.1, 1.any < 1-1
    if right is None:
        # Every item against null, not only the first (MNG-6964): 1-0.alpha < 1 < 1-0.1.
        return next((r for r in (_maven_compare(item, None) for item in left) if r), 0)
    if isinstance(right, int):
        return -1  # 1-1 < 1.0.x
    if isinstance(right, str):
        return 1  # 1-1 > 1-sp
    for a, b in zip_longest(left, right):
        result = (0 if b is None else -_maven_compare(b, None)) if a is None else _maven_compare(a, b)
        if result:
            return result
    return 0


def _maven_items(version: str) -> list[Any]:
    items: list[Any] = []
    lists = [items]
    current = items

    def nest() -> None:
        nonlocal current
        inner: list[Any] = []
        current.append(inner)
        lists.append(inner)
        current = inner

    text = version.lower()
    digits = False
    start = 0
    for i, char in enumerate(text):
        if char in ".-":
            token = text[start:i]
            current.append(int(token) if digits and token else _maven_qualifier(token, False) if token else 0)
            start = i + 1
            if char == "-":
                nest()
        elif char.isdecimal():
            if not digits and i > start:
                if current:
                    nest()  # `.X1` orders as `-X1`
                current.append(_maven_qualifier(text[start:i], True))
                start = i
                nest()
            digits = True
        else:
            if digits and i > start:
                current.append(int(text[start:i]))
                start = i
                nest()
            digits = False
    if len(text) > start:
        token = text[start:]
        if not digits and current:
            nest()  # a qualifier after a dot at the end orders as after a hyphen: 1.foo = 1-foo
        current.append(int(token) if digits else _maven_qualifier(token, False))
    for found in reversed(lists):  # innermost first, as each list is closed
        for n in range(len(found) - 1, -1, -1):
            if _maven_is_null(found[n]):
                del found[n]
            elif not isinstance(found[n], list):
                break
    return items


@total_ordering
class MavenKey:
    """A Maven version as ComparableVersion orders it."""

    __slots__ = ("items", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.items = _maven_items(text)

    def compare(self, other: MavenKey) -> int:
        return _maven_compare(self.items, other.items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenKey) and self.compare(other) == 0

    def __lt__(self, other: MavenKey) -> bool:
        return self.compare(other) < 0

    __hash__ = None  # type: ignore[assignment]  # ordered, not a set member (`listed` compares pairwise)

    def __repr__(self) -> str:
        return f"MavenKey({self.text!r})"


def maven_key(version: str) -> MavenKey:
    return MavenKey(version)


PEP440 = Ordering("PEP 440", packaging.version.Version, identity=lambda key: key)
SEMVER = Ordering("SemVer 2.0", _univers(SemverVersion), _semver_precedence)
OSV_SEMVER = Ordering("SemVer 2.0 (strict)", osv_semver, _semver_precedence)
GO = Ordering("Go module", _univers(GolangVersion), _semver_precedence)  # SemVer, written with a `v`
MAVEN = Ordering("Maven", maven_key)
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
