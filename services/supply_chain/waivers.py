"""Accepted findings: each waiver names an advisory (its id or an alias) and a package, says why, and
holds only until its review date. An expired waiver waives nothing, and a waiver no finding needs
any more is reported, so the list stays true.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.supply_chain.ecosystems import normalise_ecosystem
from services.supply_chain.index import Finding, package_key


class Waiver(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    advisory: str = Field(min_length=1)
    package: str = Field(min_length=1)
    ecosystem: str = "PyPI"
    reason: str = Field(min_length=10)
    review_by: date

    def covers(self, finding: Finding) -> bool:
        return (self.advisory == finding.advisory_id or self.advisory in finding.aliases) and package_key(
            self.ecosystem, self.package
        ) == package_key(finding.ecosystem, finding.package)

    def describe(self) -> str:
        ecosystem = normalise_ecosystem(self.ecosystem)
        return f"{ecosystem}/{self.package} {self.advisory} (review by {self.review_by})"


class WaiverList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waivers: list[Waiver] = []


def parse_waivers(data: Any) -> list[Waiver]:
    """The `waivers:` list of a loaded YAML/JSON document (an empty document has none)."""
    return WaiverList.model_validate(data or {}).waivers


@dataclass(frozen=True)
class Verdict:
    open: list[Finding]
    """Findings no current waiver covers."""
    expired: list[Waiver]
    unused: list[Waiver]
    """Current waivers that cover no finding (fixed, or the advisory no longer applies)."""

    @property
    def clean(self) -> bool:
        return not (self.open or self.expired or self.unused)


def apply_waivers(findings: Iterable[Finding], waivers: list[Waiver], today: date) -> Verdict:
    current = [w for w in waivers if w.review_by >= today]
    findings = list(findings)
    return Verdict(
        open=[f for f in findings if not any(w.covers(f) for w in current)],
        expired=[w for w in waivers if w.review_by < today],
        unused=[w for w in current if not any(w.covers(f) for f in findings)],
    )
