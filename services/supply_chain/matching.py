"""Is version V of package P in ecosystem E affected by advisory A: OSV's evaluation, exactly.

`is_vulnerable` follows the specification's `IsVulnerable` pseudocode
(https://ossf.github.io/osv-schema/#evaluation): a version is affected if an `affected` entry of the
package lists it in `versions` or one of its ranges holds it. A range is evaluated only below its
limits (none means an implicit `*`), walking its events in version order: `introduced` at or below
V turns vulnerability on, `fixed` at or below V or `last_affected` below V turns it off.

Where the specification leaves the reader to choose:
- GIT ranges are skipped: commits are not versions (the `versions` list answers for them).
- SEMVER ranges use SemVer 2.0 precedence whatever the ecosystem, as the specification says
  (`versions.OSV_SEMVER`: SemVer 2.0 after osv.dev's coercion, so PyPI's `1.0` is 1.0.0). A version
  (or a bound) that is not SemVer even so, as PEP 440's `2.0rc1`, `1.0.post1`, `1.0.dev1` and Maven's
  `5.3.0.RELEASE` are not, cannot be placed by SemVer's ordering: that range is then evaluated in the
  package's ecosystem ordering, which is how osv-scanner evaluates every SEMVER range (it reads the
  version and the events with the ecosystem's parser). Not matching it at all would miss `2.0rc1`
  under `fixed: 2.0.0`; univers' lenient SemVer would read `1.0.post1` as 1.0.0 and call it fixed by
  a `fixed: 1.0.post1`.
- ECOSYSTEM ranges use the ecosystem's own ordering (`versions.ordering_for`). No known ordering, a
  version the ordering cannot read, or a range bound it cannot read: that range does not match (the
  `versions` list still can), rather than guess an order.
- `introduced: "0"` sorts before every version; a `limit` containing `*` is infinity.
- A withdrawn advisory affects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.supply_chain.ecosystems import normalise_ecosystem, normalise_name
from services.supply_chain.osv import Advisory, Affected, Range, RangeType
from services.supply_chain.versions import OSV_SEMVER, InvalidVersion, Ordering, ordering_for


@dataclass(frozen=True)
class Match:
    advisory: Advisory
    affected: Affected
    """The entry whose versions or ranges hold the version."""
    fixed_versions: tuple[str, ...]
    """Every `fixed` of the package's version ranges in this advisory, lowest first."""


def is_vulnerable(advisory: Advisory, ecosystem: str, name: str, version: str) -> Match | None:
    if advisory.withdrawn is not None:
        return None
    ecosystem = normalise_ecosystem(ecosystem)  # `pypi` must find PyPI's ordering too, not only its records
    entries = package_entries(advisory, ecosystem, name)
    for affected in entries:
        if in_versions(version, affected, ecosystem) or in_ranges(version, affected.ranges, ecosystem):
            return Match(advisory, affected, fixed_versions(entries, ecosystem))
    return None


def package_entries(advisory: Advisory, ecosystem: str, name: str) -> list[Affected]:
    ecosystem = normalise_ecosystem(ecosystem)
    key = normalise_name(ecosystem, name)
    return [
        a
        for a in advisory.affected
        if normalise_ecosystem(a.package.ecosystem) == ecosystem
        and normalise_name(ecosystem, a.package.name) == key
    ]


def in_versions(version: str, affected: Affected, ecosystem: str) -> bool:
    """`IncludedInVersions`: listed as written, or of the same precedence in the ecosystem's order."""
    if version in affected.versions:
        return True
    ordering = ordering_for(ecosystem)
    if ordering is None or not affected.versions:
        return False
    try:
        return ordering.listed(version, affected.versions)
    except InvalidVersion:
        return False


def in_ranges(version: str, ranges: tuple[Range, ...], ecosystem: str) -> bool:
    """`IncludedInRanges`: each range evaluated in the first of its orderings that reads the version
    and every bound."""
    for range_ in ranges:
        for ordering in range_orderings(range_, ecosystem):
            try:
                if in_range(ordering.key(version), range_, ordering):
                    return True
                break
            except InvalidVersion:
                continue
    return False


def range_orderings(range_: Range, ecosystem: str) -> tuple[Ordering, ...]:
    """The orderings a range is evaluated in, in order of preference: none for GIT; SemVer 2.0, then
    the ecosystem's (for what SemVer cannot read), for SEMVER; the ecosystem's for ECOSYSTEM."""
    if range_.type is RangeType.GIT:
        return ()
    own = ordering_for(ecosystem)
    if range_.type is RangeType.SEMVER:
        return (OSV_SEMVER,) if own is None else (OSV_SEMVER, own)
    return () if own is None else (own,)


def in_range(v: Any, range_: Range, ordering: Ordering) -> bool:
    """One range, `v` already a key of `ordering`; InvalidVersion if a bound cannot be read."""
    if not before_limits(v, range_, ordering):
        return False
    vulnerable = False
    for event in sorted_events(range_, ordering):
        # Each event holds one kind (osv.Event), so this is the pseudocode's if/else-if chain.
        if event.introduced is not None:
            if event.introduced == "0" or v >= ordering.key(event.introduced):
                vulnerable = True
        elif event.fixed is not None:
            if v >= ordering.key(event.fixed):
                vulnerable = False
        elif event.last_affected is not None and v > ordering.key(event.last_affected):
            vulnerable = False
    return vulnerable


def before_limits(v: Any, range_: Range, ordering: Ordering) -> bool:
    limits = [e.limit for e in range_.events if e.limit is not None]
    if not limits:
        return True  # the implicit `limit: "*"`
    return any("*" in limit or v < ordering.key(limit) for limit in limits)


def sorted_events(range_: Range, ordering: Ordering) -> list[Any]:
    """The events in version order, `introduced: "0"` first; limits only bound (`before_limits`)."""
    zero = [e for e in range_.events if e.introduced == "0"]
    rest = [e for e in range_.events if e.introduced != "0" and e.limit is None]
    # A stable sort: events at one version keep the record's order.
    return zero + sorted(rest, key=lambda e: ordering.key(e.version))


def fixed_versions(entries: list[Affected], ecosystem: str) -> tuple[str, ...]:
    found: list[str] = []
    for affected in entries:
        for range_ in affected.ranges:
            if range_.type is RangeType.GIT:
                continue
            found.extend(e.fixed for e in range_.events if e.fixed is not None and e.fixed not in found)
    ordering = ordering_for(ecosystem)
    if ordering is not None:
        try:
            return tuple(sorted(found, key=ordering.key))
        except InvalidVersion:
            pass
    return tuple(found)
