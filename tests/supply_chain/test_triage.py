"""VEX triage: the rules each status imposes, records kept across re-scans by (advisory, purl), and
exports as OpenVEX 0.2.0 and CycloneDX 1.6 VEX: every status and every justification of both, against
the specifications' enumerations (CycloneDX's read from the schema cyclonedx-python-lib vendors,
OpenVEX's from tests/supply_chain/openvex_rules.py, written from its specification: no package ships
OpenVEX's schema)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema._res import BOM_JSON
from cyclonedx.validation.json import JsonStrictValidator

from services.supply_chain.triage import (
    CYCLONEDX_JUSTIFICATIONS,
    OPENVEX_JUSTIFICATIONS,
    Decision,
    FindingKey,
    InvalidTriage,
    Status,
    decide,
    open_record,
    reconcile,
    to_cyclonedx_vex,
    to_openvex,
)
from tests.supply_chain.openvex_rules import OPENVEX_0_2_0, openvex_problems

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PRODUCT = "pkg:pypi/demo-app@1.4.0"
LOG4SHELL = FindingKey("GHSA-jfh8-c2jp-5v3q", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
REQUESTS = FindingKey("PYSEC-2023-74", "pkg:pypi/requests@2.30.0")


def test_a_new_finding_is_under_investigation() -> None:
    """open_record starts at under_investigation, with that opening in its history."""
    record = open_record(LOG4SHELL, T0)
    assert record.status is Status.UNDER_INVESTIGATION
    assert [t.previous for t in record.history] == [None]


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (Decision(Status.NOT_AFFECTED), "justification or an impact statement"),
        (Decision(Status.NOT_AFFECTED, impact_statement="   "), "justification or an impact statement"),
        (Decision(Status.NOT_AFFECTED, justification="because"), "not an OpenVEX or CycloneDX justification"),
        (Decision(Status.AFFECTED), "action statement"),
        (Decision(Status.FIXED, justification="code_not_present"), "not_affected only"),
        (Decision(Status.UNDER_INVESTIGATION, action_statement="upgrade"), "affected only"),
    ],
)
def test_each_status_requires_its_fields(decision: Decision, message: str) -> None:
    """not_affected needs a listed justification or an impact statement; affected an action statement."""
    with pytest.raises(InvalidTriage, match=message):
        decide(open_record(LOG4SHELL, T0), decision, "alice", T0)


def test_decisions_move_the_record_and_are_kept_in_order() -> None:
    """under_investigation → affected → fixed → under_investigation: each move kept with actor and time."""
    record = open_record(LOG4SHELL, T0)
    record = decide(record, Decision(Status.AFFECTED, action_statement="Upgrade to 2.17.1"), "alice", T0)
    record = decide(record, Decision(Status.FIXED), "bob", T0 + timedelta(days=1))
    record = decide(
        record, Decision(Status.UNDER_INVESTIGATION, note="regression?"), "carol", T0 + timedelta(days=2)
    )
    assert [(t.previous, t.decision.status, t.actor) for t in record.history[1:]] == [
        (Status.UNDER_INVESTIGATION, Status.AFFECTED, "alice"),
        (Status.AFFECTED, Status.FIXED, "bob"),
        (Status.FIXED, Status.UNDER_INVESTIGATION, "carol"),
    ]
    assert (record.updated_by, record.updated_at) == ("carol", T0 + timedelta(days=2))


def test_the_same_decision_again_changes_nothing() -> None:
    """Repeating the current decision adds no history entry."""
    decision = Decision(Status.NOT_AFFECTED, justification="vulnerable_code_not_in_execute_path")
    once = decide(open_record(LOG4SHELL, T0), decision, "alice", T0)
    assert decide(once, decision, "bob", T0 + timedelta(hours=1)) is once


def test_triage_is_kept_across_re_scans() -> None:
    """A re-scan keeps decided records, opens new findings, and reports (but keeps) ones no longer found."""
    decided = decide(
        open_record(LOG4SHELL, T0),
        Decision(Status.NOT_AFFECTED, justification="code_not_reachable"),
        "alice",
        T0,
    )
    first = reconcile({LOG4SHELL: decided}, [LOG4SHELL, REQUESTS], T0 + timedelta(days=1))
    assert first.records[LOG4SHELL] is decided
    assert first.new == (REQUESTS,)
    assert first.records[REQUESTS].status is Status.UNDER_INVESTIGATION
    second = reconcile(first.records, [REQUESTS], T0 + timedelta(days=2))
    assert second.gone == (LOG4SHELL,)
    assert second.records[LOG4SHELL] is decided
    back = reconcile(second.records, [LOG4SHELL, REQUESTS], T0 + timedelta(days=3))
    assert back.new == ()
    assert back.records[LOG4SHELL].status is Status.NOT_AFFECTED


def test_another_version_of_the_package_is_triaged_afresh() -> None:
    """The key holds the versioned purl: the same advisory in log4j-core 2.15.0 opens its own record."""
    decided = decide(open_record(LOG4SHELL, T0), Decision(Status.FIXED), "alice", T0)
    other = FindingKey(LOG4SHELL.advisory_id, "pkg:maven/org.apache.logging.log4j/log4j-core@2.15.0")
    result = reconcile({LOG4SHELL: decided}, [other], T0)
    assert result.new == (other,)


def records() -> list:  # type: ignore[type-arg]
    affected = decide(
        open_record(REQUESTS, T0),
        Decision(Status.AFFECTED, action_statement="Upgrade to 2.31.0"),
        "alice",
        T0,
    )
    not_affected = decide(
        open_record(LOG4SHELL, T0),
        Decision(
            Status.NOT_AFFECTED, justification="protected_at_runtime", impact_statement="JNDI lookups off"
        ),
        "bob",
        T0,
    )
    return [affected, not_affected]


def test_openvex_export_follows_the_0_2_0_rules() -> None:
    """OpenVEX 0.2.0: context, required fields; not_affected has a justification from OpenVEX's list
    (mapped from CycloneDX's) and not also an impact statement; affected has its action statement."""
    document = to_openvex(
        records(),
        product_purl=PRODUCT,
        author="team-a@example.com",
        timestamp=T0,
        aliases={LOG4SHELL.advisory_id: ["CVE-2021-44228", LOG4SHELL.advisory_id]},
    )
    assert document["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert {"@id", "author", "timestamp", "version", "statements"} <= document.keys()
    by_status = {s["status"]: s for s in document["statements"]}
    not_affected = by_status["not_affected"]
    assert not_affected["justification"] == "inline_mitigations_already_exist"
    assert not_affected["justification"] in OPENVEX_JUSTIFICATIONS
    assert "impact_statement" not in not_affected
    assert not_affected["status_notes"] == "JNDI lookups off"
    assert not_affected["vulnerability"] == {"name": LOG4SHELL.advisory_id, "aliases": ["CVE-2021-44228"]}
    assert not_affected["products"][0]["subcomponents"][0]["@id"] == LOG4SHELL.purl
    assert by_status["affected"]["action_statement"] == "Upgrade to 2.31.0"
    assert document["timestamp"] == "2026-05-01T12:00:00Z"
    json.dumps(document)  # serialisable as is


def test_an_empty_openvex_export_is_refused() -> None:
    """OpenVEX requires at least one statement."""
    with pytest.raises(InvalidTriage, match="at least one statement"):
        to_openvex([], product_purl=PRODUCT, author="a", timestamp=T0)


def test_cyclonedx_vex_is_valid_and_maps_states() -> None:
    """The CycloneDX VEX validates against the strict 1.6 schema; affected → exploitable, not_affected
    keeps its CycloneDX justification, and each vulnerability affects a component of the BOM."""
    text = to_cyclonedx_vex(records(), product_purl=PRODUCT, created=T0, tool_version="0.1.0")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    analyses = {v["id"]: v["analysis"] for v in document["vulnerabilities"]}
    assert analyses[REQUESTS.advisory_id]["state"] == "exploitable"
    assert analyses[LOG4SHELL.advisory_id] == {
        "state": "not_affected",
        "justification": "protected_at_runtime",
        "detail": "JNDI lookups off",
        "lastUpdated": "2026-05-01T12:00:00+00:00",
    }
    refs = {c["bom-ref"] for c in document["components"]}
    assert {a["ref"] for v in document["vulnerabilities"] for a in v["affects"]} <= refs


# --- the whole mapping, checked against both specifications' enumerations ---------------------------

_CDX_SCHEMA = json.loads(
    Path(BOM_JSON[SchemaVersion.V1_6] or "").read_text()
)  # vendored by cyclonedx-python-lib
CDX_STATES = set(_CDX_SCHEMA["definitions"]["impactAnalysisState"]["enum"])
CDX_JUSTIFICATIONS = set(_CDX_SCHEMA["definitions"]["impactAnalysisJustification"]["enum"])
_OPENVEX_STATEMENT = OPENVEX_0_2_0["properties"]["statements"]["items"]["properties"]
OPENVEX_STATUSES = set(_OPENVEX_STATEMENT["status"]["enum"])
OPENVEX_JUSTIFICATION_LABELS = set(_OPENVEX_STATEMENT["justification"]["enum"])

# Each triage status: (OpenVEX status, CycloneDX analysis state).
STATES = {
    Status.UNDER_INVESTIGATION: ("under_investigation", "in_triage"),
    Status.AFFECTED: ("affected", "exploitable"),
    Status.NOT_AFFECTED: ("not_affected", "not_affected"),
    Status.FIXED: ("fixed", "resolved"),
}
# Each justification a not_affected triage may give (OpenVEX's five, CycloneDX's nine): (as exported in
# OpenVEX, as exported in CycloneDX). A format's own term is kept; the other's maps to its nearest.
JUSTIFICATIONS = {
    # OpenVEX 0.2.0's labels.
    "component_not_present": ("component_not_present", "code_not_present"),
    "vulnerable_code_not_present": ("vulnerable_code_not_present", "code_not_present"),
    "vulnerable_code_not_in_execute_path": ("vulnerable_code_not_in_execute_path", "code_not_reachable"),
    "vulnerable_code_cannot_be_controlled_by_adversary": (
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "requires_environment",
    ),
    "inline_mitigations_already_exist": (
        "inline_mitigations_already_exist",
        "protected_by_mitigating_control",
    ),
    # CycloneDX 1.6's.
    "code_not_present": ("vulnerable_code_not_present", "code_not_present"),
    "code_not_reachable": ("vulnerable_code_not_in_execute_path", "code_not_reachable"),
    "requires_configuration": ("vulnerable_code_cannot_be_controlled_by_adversary", "requires_configuration"),
    "requires_dependency": ("component_not_present", "requires_dependency"),
    "requires_environment": ("vulnerable_code_cannot_be_controlled_by_adversary", "requires_environment"),
    "protected_by_compiler": ("inline_mitigations_already_exist", "protected_by_compiler"),
    "protected_at_runtime": ("inline_mitigations_already_exist", "protected_at_runtime"),
    "protected_at_perimeter": ("inline_mitigations_already_exist", "protected_at_perimeter"),
    "protected_by_mitigating_control": (
        "inline_mitigations_already_exist",
        "protected_by_mitigating_control",
    ),
}


def _decision(status: Status, justification: str | None = None) -> Decision:
    if status is Status.AFFECTED:
        return Decision(status, action_statement="upgrade")
    if status is Status.NOT_AFFECTED:
        return Decision(status, justification=justification or "code_not_present")
    return Decision(status)


def exported(decision: Decision) -> tuple[dict[str, Any], dict[str, Any]]:
    """One record with this decision through both exports, each checked against its format's rules:
    (the OpenVEX statement, the CycloneDX analysis)."""
    record = decide(open_record(REQUESTS, T0), decision, "alice", T0)
    openvex = to_openvex([record], product_purl=PRODUCT, author="a@example.com", timestamp=T0)
    assert openvex_problems(openvex) == []
    text = to_cyclonedx_vex([record], product_purl=PRODUCT, created=T0, tool_version="0.1.0")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    [statement] = openvex["statements"]
    [vulnerability] = json.loads(text)["vulnerabilities"]
    return statement, vulnerability["analysis"]


def test_the_mapping_tables_cover_both_specifications() -> None:
    """Every triage status and every justification of OpenVEX 0.2.0 and CycloneDX 1.6 (its vendored schema's
    enumerations) is in the tables below; each status maps to a distinct state of each format."""
    assert set(STATES) == set(Status)
    assert {openvex for openvex, _ in STATES.values()} == OPENVEX_STATUSES
    assert {cdx for _, cdx in STATES.values()} <= CDX_STATES
    assert len({cdx for _, cdx in STATES.values()}) == len(STATES)
    assert set(JUSTIFICATIONS) == OPENVEX_JUSTIFICATION_LABELS | CDX_JUSTIFICATIONS
    # What triage accepts is what the specifications list (the library's enum is the schema's).
    assert set(OPENVEX_JUSTIFICATIONS) == OPENVEX_JUSTIFICATION_LABELS
    assert set(CYCLONEDX_JUSTIFICATIONS) == CDX_JUSTIFICATIONS


@pytest.mark.parametrize("status", list(Status))
def test_every_status_exports_as_its_state_in_both_formats(status: Status) -> None:
    """Each triage status is exported as the OpenVEX status and CycloneDX analysis state of the table, and
    both documents are valid."""
    statement, analysis = exported(_decision(status))
    assert (statement["status"], analysis["state"]) == STATES[status]
    assert statement["status"] in OPENVEX_STATUSES
    assert analysis["state"] in CDX_STATES


@pytest.mark.parametrize("justification", sorted(JUSTIFICATIONS))
def test_every_justification_exports_as_a_term_of_each_format(justification: str) -> None:
    """A not_affected triage with any OpenVEX or CycloneDX justification exports an OpenVEX justification
    from OpenVEX's five and a CycloneDX one from CycloneDX's nine (a format's own term unchanged), as the
    table says."""
    statement, analysis = exported(_decision(Status.NOT_AFFECTED, justification))
    assert (statement["justification"], analysis["justification"]) == JUSTIFICATIONS[justification]
    assert statement["justification"] in OPENVEX_JUSTIFICATION_LABELS
    assert analysis["justification"] in CDX_JUSTIFICATIONS
    if justification in OPENVEX_JUSTIFICATION_LABELS:
        assert statement["justification"] == justification
    if justification in CDX_JUSTIFICATIONS:
        assert analysis["justification"] == justification
