"""Triage of findings as VEX statements: a pure state machine over (advisory id, component purl).

A finding starts `under_investigation`; people move it to `affected` (with the action to take),
`not_affected` (with a justification from OpenVEX's or CycloneDX's list, or an impact statement) or
`fixed`. Any status may follow any other, as a later VEX statement overrides an earlier one; what a
status requires is checked on every move, and every move is kept in the record's history (the
audit log records who moved what; the history is what an export and the dashboard show).

Records are keyed by (advisory id, purl with version): a re-scan that finds the same advisory in
the same component version finds its record again, and a new version of the package starts afresh
(it may well be fixed). `reconcile` applies one scan's findings to the held records.

Exports: OpenVEX 0.2.0 JSON (`to_openvex`) and CycloneDX 1.6 VEX (`to_cyclonedx_vex`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisState
from cyclonedx.model.vulnerability import BomTarget, Vulnerability, VulnerabilityAnalysis
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"


class Status(StrEnum):
    UNDER_INVESTIGATION = "under_investigation"
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    FIXED = "fixed"


OPENVEX_JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
CYCLONEDX_JUSTIFICATIONS = tuple(j.value for j in ImpactAnalysisJustification)

# Each list's nearest term in the other (the lists differ in grain: CycloneDX's is finer).
_TO_CYCLONEDX = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}
_TO_OPENVEX = {
    "code_not_present": "vulnerable_code_not_present",
    "code_not_reachable": "vulnerable_code_not_in_execute_path",
    "requires_configuration": "vulnerable_code_cannot_be_controlled_by_adversary",
    "requires_dependency": "component_not_present",
    "requires_environment": "vulnerable_code_cannot_be_controlled_by_adversary",
    "protected_by_compiler": "inline_mitigations_already_exist",
    "protected_at_runtime": "inline_mitigations_already_exist",
    "protected_at_perimeter": "inline_mitigations_already_exist",
    "protected_by_mitigating_control": "inline_mitigations_already_exist",
}
_CDX_STATES = {
    Status.UNDER_INVESTIGATION: ImpactAnalysisState.IN_TRIAGE,
    Status.AFFECTED: ImpactAnalysisState.EXPLOITABLE,
    Status.NOT_AFFECTED: ImpactAnalysisState.NOT_AFFECTED,
    Status.FIXED: ImpactAnalysisState.RESOLVED,
}
_JUSTIFICATIONS = frozenset(OPENVEX_JUSTIFICATIONS) | frozenset(CYCLONEDX_JUSTIFICATIONS)
SYSTEM_ACTOR = "system"


class InvalidTriage(ValueError):
    """A decision its status does not allow (no justification for not_affected, ...)."""


@dataclass(frozen=True, order=True)
class FindingKey:
    advisory_id: str
    purl: str


@dataclass(frozen=True)
class Decision:
    status: Status
    justification: str | None = None
    """not_affected only: a term of OpenVEX's or CycloneDX's list."""
    impact_statement: str | None = None
    """not_affected only: why, in words (instead of, or besides, a justification)."""
    action_statement: str | None = None
    """affected only (and required there): what to do about it."""
    note: str | None = None


@dataclass(frozen=True)
class Transition:
    previous: Status | None
    decision: Decision
    actor: str
    at: datetime


@dataclass(frozen=True)
class TriageRecord:
    key: FindingKey
    decision: Decision
    updated_by: str
    updated_at: datetime
    history: tuple[Transition, ...]

    @property
    def status(self) -> Status:
        return self.decision.status


def validate(decision: Decision) -> None:
    justification = decision.justification
    if justification is not None and justification not in (
        *OPENVEX_JUSTIFICATIONS,
        *CYCLONEDX_JUSTIFICATIONS,
    ):
        raise InvalidTriage(f"{justification!r} is not an OpenVEX or CycloneDX justification")
    if decision.status is Status.NOT_AFFECTED:
        if not justification and not (decision.impact_statement or "").strip():
            raise InvalidTriage("not_affected needs a justification or an impact statement")
    elif justification is not None or decision.impact_statement is not None:
        raise InvalidTriage("a justification or impact statement belongs to not_affected only")
    if decision.status is Status.AFFECTED:
        if not (decision.action_statement or "").strip():
            raise InvalidTriage("affected needs an action statement: what to do about it")
    elif decision.action_statement is not None:
        raise InvalidTriage("an action statement belongs to affected only")


def open_record(key: FindingKey, at: datetime) -> TriageRecord:
    decision = Decision(Status.UNDER_INVESTIGATION)
    return TriageRecord(key, decision, SYSTEM_ACTOR, at, (Transition(None, decision, SYSTEM_ACTOR, at),))


def decide(record: TriageRecord, decision: Decision, actor: str, at: datetime) -> TriageRecord:
    """The record after `actor` decides; the same decision again changes nothing (no history entry)."""
    validate(decision)
    if decision == record.decision:
        return record
    transition = Transition(record.status, decision, actor, at)
    return TriageRecord(record.key, decision, actor, at, (*record.history, transition))


@dataclass(frozen=True)
class Reconciled:
    records: dict[FindingKey, TriageRecord]
    """Every record: the held ones (kept, whatever the scan found) and one per new finding."""
    new: tuple[FindingKey, ...]
    gone: tuple[FindingKey, ...]
    """Held records the scan no longer finds (the advisory was withdrawn or changed): kept, so a
    finding that comes back keeps its triage."""


def reconcile(
    held: Mapping[FindingKey, TriageRecord], found: Iterable[FindingKey], at: datetime
) -> Reconciled:
    found_keys = set(found)
    records = dict(held)
    new = sorted(found_keys - held.keys())
    for key in new:
        records[key] = open_record(key, at)
    return Reconciled(records, tuple(new), tuple(sorted(held.keys() - found_keys)))


def to_openvex(
    records: Iterable[TriageRecord],
    *,
    product_purl: str,
    author: str,
    timestamp: datetime,
    document_id: str | None = None,
    version: int = 1,
    aliases: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """An OpenVEX 0.2.0 document: one statement per record, the product with the finding's
    component as subcomponent. OpenVEX wants a justification or an impact statement for
    not_affected, not both: with both, the statement goes in `status_notes`."""
    aliases = aliases or {}
    statements = []
    for record in sorted(records, key=lambda r: r.key):
        decision = record.decision
        statement: dict[str, Any] = {
            "vulnerability": {"name": record.key.advisory_id},
            "timestamp": _rfc3339(record.updated_at),
            "products": [
                {
                    "@id": product_purl,
                    "identifiers": {"purl": product_purl},
                    "subcomponents": [{"@id": record.key.purl, "identifiers": {"purl": record.key.purl}}],
                }
            ],
            "status": decision.status.value,
        }
        if names := sorted(set(aliases.get(record.key.advisory_id, ())) - {record.key.advisory_id}):
            statement["vulnerability"]["aliases"] = names
        notes = [decision.note] if decision.note else []
        if decision.justification:
            statement["justification"] = _TO_OPENVEX.get(decision.justification, decision.justification)
            if decision.impact_statement:
                notes.insert(0, decision.impact_statement)
        elif decision.impact_statement:
            statement["impact_statement"] = decision.impact_statement
        if decision.action_statement:
            statement["action_statement"] = decision.action_statement
            statement["action_statement_timestamp"] = _rfc3339(record.updated_at)
        if notes:
            statement["status_notes"] = " ".join(notes)
        statements.append(statement)
    if not statements:
        raise InvalidTriage("an OpenVEX document needs at least one statement")
    return {
        "@context": OPENVEX_CONTEXT,
        "@id": document_id
        or f"urn:uuid:{uuid5(NAMESPACE_URL, f'{product_purl}#vex#{_rfc3339(timestamp)}#{version}')}",
        "author": author,
        "timestamp": _rfc3339(timestamp),
        "version": version,
        "tooling": "machine-native-ops",
        "statements": statements,
    }


def to_cyclonedx_vex(
    records: Iterable[TriageRecord], *, product_purl: str, created: datetime, tool_version: str
) -> str:
    """A CycloneDX 1.6 VEX BOM: the product as metadata component, each finding's component listed
    (so `affects` refers to something in the BOM) and one vulnerability per record."""
    bom = Bom(serial_number=uuid5(NAMESPACE_URL, f"{product_purl}#cdx-vex#{created.isoformat()}"))
    bom.metadata.timestamp = created
    bom.metadata.tools.components.add(
        CdxComponent(type=ComponentType.APPLICATION, name="machine-native-ops", version=tool_version)
    )
    product = _purl_component(product_purl, ComponentType.APPLICATION)
    bom.metadata.component = product
    listed: dict[str, CdxComponent] = {}
    for record in sorted(records, key=lambda r: r.key):
        if record.key.purl not in listed and record.key.purl != product_purl:
            listed[record.key.purl] = _purl_component(record.key.purl, ComponentType.LIBRARY)
            bom.components.add(listed[record.key.purl])
        decision = record.decision
        justification = decision.justification and _TO_CYCLONEDX.get(
            decision.justification, decision.justification
        )
        detail = " ".join(
            t for t in (decision.impact_statement, decision.action_statement, decision.note) if t
        )
        bom.vulnerabilities.add(
            Vulnerability(
                bom_ref=f"{record.key.advisory_id}@{record.key.purl}",
                id=record.key.advisory_id,
                analysis=VulnerabilityAnalysis(
                    state=_CDX_STATES[decision.status],
                    justification=ImpactAnalysisJustification(justification) if justification else None,
                    detail=detail or None,
                    last_updated=record.updated_at,
                ),
                affects=[BomTarget(ref=record.key.purl)],
            )
        )
    bom.register_dependency(product, listed.values())
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def _purl_component(purl: str, type_: ComponentType) -> CdxComponent:
    parsed = PackageURL.from_string(purl)
    return CdxComponent(
        type=type_,
        bom_ref=purl,
        name=parsed.name,
        group=parsed.namespace,
        version=parsed.version,
        purl=parsed,
    )


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
