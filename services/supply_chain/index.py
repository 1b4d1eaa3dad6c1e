"""Advisories indexed by (ecosystem, normalised package name), and the audit of components against them.

`add` is incremental as imports will be: a record replaces the one of its id unless it is older
(`modified`), and a withdrawn record retires its id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from services.supply_chain import osv
from services.supply_chain.ecosystems import normalise_ecosystem, normalise_name
from services.supply_chain.matching import Match, is_vulnerable
from services.supply_chain.osv import Advisory, Affected
from services.supply_chain.sources import osv_files

PackageKey = tuple[str, str]


@dataclass(frozen=True)
class Finding:
    advisory_id: str
    aliases: tuple[str, ...]
    ecosystem: str
    package: str
    version: str
    fixed_versions: tuple[str, ...]
    severity: str | None
    summary: str | None

    def describe(self) -> str:
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        fixed = ", ".join(self.fixed_versions) or "none"
        return (
            f"{self.ecosystem}/{self.package} {self.version}: {self.advisory_id}{also}; "
            f"fixed in {fixed}; severity {self.severity or 'not given'}"
        )


def package_key(ecosystem: str, name: str) -> PackageKey:
    ecosystem = normalise_ecosystem(ecosystem)
    return ecosystem, normalise_name(ecosystem, name)


def severity_text(advisory: Advisory, affected: Affected) -> str | None:
    """The CVSS vectors (the entry's own, else the advisory's), else a database's severity word."""
    vectors = affected.severity or advisory.severity
    if vectors:
        return "; ".join(f"{s.type} {s.score}" for s in vectors)
    for specific in (affected.ecosystem_specific, affected.database_specific, advisory.database_specific):
        if specific and isinstance(specific.get("severity"), str):
            return str(specific["severity"])
    return None


def finding(match: Match, ecosystem: str, name: str, version: str) -> Finding:
    return Finding(
        advisory_id=match.advisory.id,
        aliases=match.advisory.aliases,
        ecosystem=ecosystem,
        package=name,
        version=version,
        fixed_versions=match.fixed_versions,
        severity=severity_text(match.advisory, match.affected),
        summary=match.advisory.summary,
    )


class AdvisoryIndex:
    def __init__(self) -> None:
        self._by_id: dict[str, Advisory] = {}
        self._by_package: dict[PackageKey, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._by_id)

    def packages(self) -> list[PackageKey]:
        """(ecosystem, normalised name) of every package some held advisory names."""
        return sorted(self._by_package)

    def get(self, advisory_id: str) -> Advisory | None:
        return self._by_id.get(advisory_id)

    def add(self, advisory: Advisory) -> bool:
        """Store, replace or (withdrawn) retire a record; False if an as new or newer one is held."""
        held = self._by_id.get(advisory.id)
        if held is not None:
            if held.modified > advisory.modified:
                return False
            self._remove(held)
        if advisory.withdrawn is not None:
            return True
        self._by_id[advisory.id] = advisory
        for affected in advisory.affected:
            self._by_package[package_key(affected.package.ecosystem, affected.package.name)].add(advisory.id)
        return True

    def _remove(self, advisory: Advisory) -> None:
        del self._by_id[advisory.id]
        for affected in advisory.affected:
            key = package_key(affected.package.ecosystem, affected.package.name)
            self._by_package[key].discard(advisory.id)
            if not self._by_package[key]:
                del self._by_package[key]

    def advisories_for(self, ecosystem: str, name: str) -> list[Advisory]:
        ids = self._by_package.get(package_key(ecosystem, name), ())
        return [self._by_id[i] for i in sorted(ids)]

    def matches(self, ecosystem: str, name: str, version: str) -> list[Match]:
        found = (is_vulnerable(a, ecosystem, name, version) for a in self.advisories_for(ecosystem, name))
        return [m for m in found if m is not None]

    def audit(self, components: Iterable[tuple[str, str, str]]) -> list[Finding]:
        """Findings of (ecosystem, name, version) components, in component then advisory id order."""
        return [
            finding(match, ecosystem, name, version)
            for ecosystem, name, version in components
            for match in self.matches(ecosystem, name, version)
        ]


@dataclass
class LoadReport:
    files: int = 0
    added: int = 0
    withdrawn: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason) of every record that could not be read: skipped, never half-imported."""


def load_into(index: AdvisoryIndex, path: Path) -> LoadReport:
    """Import every OSV file of a directory, tar or zip (`sources.osv_files`)."""
    report = LoadReport()
    for name, content in osv_files(path):
        report.files += 1
        try:
            advisory = osv.parse(content, name)
        except osv.InvalidAdvisory as error:
            report.errors.append((name, str(error)))
            continue
        if index.add(advisory):
            if advisory.withdrawn is not None:
                report.withdrawn += 1
            else:
                report.added += 1
    return report


def load_index(path: Path) -> tuple[AdvisoryIndex, LoadReport]:
    index = AdvisoryIndex()
    return index, load_into(index, path)
