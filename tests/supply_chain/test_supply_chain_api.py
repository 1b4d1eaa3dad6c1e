"""The supply chain end to end: the edge and the SupplyChainAgent as real processes (real NATS,
PostgreSQL, blob store on the filesystem), the real PyPA advisory snapshot imported through the
operator route, documents uploaded and downloaded over HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest

from services.supply_chain.sbom.cyclonedx import validate_cyclonedx
from services.supply_chain.sbom.spdx import read_spdx
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.messages.artifacts import ArtifactPublished, Dependency, Ecosystem, FileInfo
from shared.messages.permissions import Role
from shared.messages.registry import ARTIFACT_PUBLISHED, FINDINGS_CHANGED
from tests.supply_chain.mesh_support import (
    OPERATOR,
    Env,
    Team,
    call,
    import_archive,
    mno,
    osv_archive,
    pypa_archive,
    start,
    team,
)

REQUIREMENTS = b"jinja2==2.10\naiohttp==0.10.0\nflask>=1.0\n"


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """The mesh, with the whole PyPA snapshot imported once."""
    async for running in start(tmp_path_factory.mktemp("supply-chain"), postgres_dsn):
        info = await import_archive(running, pypa_archive(), "pypa-2024-10-10")
        assert info["status"] == "finished", info
        assert info["new"] + info["withdrawn"] == info["files"] == 2661, info
        yield running


async def upload(env: Env, who: Team, content: bytes, filename: str) -> dict[str, Any]:
    status, answer = await call(
        env, "POST", "/api/v1/sboms", who.headers, body=content, params={"filename": filename}
    )
    assert status == 201, answer
    assert isinstance(answer, dict)
    return answer


def _advisory(
    advisory_id: str, modified: datetime, package: str = "acme-widgets", **extra: Any
) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": modified.isoformat().replace("+00:00", "Z"),
        "summary": f"{package} parses hostile input",
        "aliases": ["CVE-2099-0001"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5"}]}],
            }
        ],
        **extra,
    }


async def test_a_pinned_vulnerable_requirement_gets_its_finding(env: Env) -> None:
    """With the PyPA snapshot imported, jinja2==2.10 in a requirements.txt is found through the API with
    aliases, fixed versions, severity and its path; a second import of the snapshot changes nothing."""
    owner = await team(env)
    result = await upload(env, owner, REQUIREMENTS, "requirements.txt")
    assert result["input_format"] == "requirements.txt"
    assert result["advisories"] >= 2600
    assert [s["where"] for s in result["skipped"]] == ["line 3"]
    by_id = {(f["advisory_id"], f["package"]): f for f in result["findings"]}
    jinja = by_id[("PYSEC-2019-217", "jinja2")]
    assert jinja["fixed_versions"] == ["2.10.1"]
    assert "CVE-2019-10906" in jinja["aliases"]
    assert jinja["purl"] == "pkg:pypi/jinja2@2.10"
    assert jinja["path"] == ["file:requirements.txt", "pkg:pypi/jinja2@2.10"]
    assert jinja["triage"] == "under_investigation"
    high = by_id[("PYSEC-2023-246", "aiohttp")]
    assert high["severity"]["rating"] == "high"
    assert high["severity"]["score"] == 7.5
    assert high["severity"]["vector"].startswith("CVSS:3.1/")
    # Worst first.
    ranks = [f["severity"]["rating"] for f in result["findings"]]
    assert ranks.index("high") < ranks.index("medium")

    status, listed = await call(
        env, "GET", "/api/v1/vulnerabilities", owner.headers, params={"min_severity": "high"}
    )
    assert status == 200
    assert listed["total"] >= 1
    assert {f["severity"]["rating"] for f in listed["items"]} <= {"high", "critical"}
    status, sboms = await call(env, "GET", "/api/v1/sboms", owner.headers)
    assert status == 200
    assert [s["id"] for s in sboms["items"]] == [result["sbom"]["id"]]
    assert sboms["items"][0]["findings"]["high"] >= 1

    again = await import_archive(env, pypa_archive(), "pypa-2024-10-10")
    assert (again["new"], again["modified"], again["findings_changed"]) == (0, 0, 0)
    assert again["unchanged"] == again["files"] - again["error_count"]
    status, advisories = await call(env, "GET", "/api/v1/supply-chain/advisories", owner.headers)
    assert status == 200
    assert advisories["advisories"] >= 2600
    assert advisories["imports"][0]["id"] == again["id"]


async def newest_scan_attestation(env: Env, owner: Any, sbom_id: str) -> tuple[int, set[str]]:
    """How many attestations the SBOM has, and the advisories of its newest one (a verified scan)."""
    status, sbom = await call(env, "GET", f"/api/v1/sboms/{sbom_id}", owner.headers)
    assert status == 200, sbom
    newest = sbom["attestations"][-1]
    status, verified = await call(env, "POST", f"/api/v1/attestations/{newest}/verify", owner.headers)
    assert status == 200, verified
    status, envelope = await call(env, "GET", f"/api/v1/attestations/{newest}", owner.headers)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == "https://in-toto.io/attestation/vulns/v0.2"
    return len(sbom["attestations"]), {r["id"] for r in statement["predicate"]["scanner"]["result"]}


async def sboms_naming(env: Env, package: str) -> tuple[int, int]:
    """(SBOMs of every team naming the PyPI package, SBOMs stored in all)."""
    async with env.pool.acquire() as conn:
        naming = await conn.fetchval(
            "SELECT count(DISTINCT sbom_id) FROM supply_chain.sbom_components "
            "WHERE ecosystem = 'PyPI' AND name = $1",
            package,
        )
        stored = await conn.fetchval("SELECT count(*) FROM supply_chain.sboms")
    return naming, stored


async def test_modified_advisories_update_and_withdrawn_ones_retire_findings(env: Env) -> None:
    """A new advisory finds a stored SBOM's component (re-scan + findings_changed event); its modified
    version updates the finding; its withdrawal retires it, and an unchanged re-import does nothing.
    Each re-scan that changed the findings signs the SBOM's new result (a verified vulns attestation).
    The re-scan is incremental: of the SBOMs this test stores, only the two naming the advisory's package
    (one at a version it does not affect) are re-examined, not those naming other packages."""
    owner = await team(env)
    other = await team(env)
    stored = await upload(env, owner, b"acme-widgets==1.0\n", "requirements.txt")
    assert stored["findings"] == []
    sbom_id = stored["sbom"]["id"]
    assert await newest_scan_attestation(env, owner, sbom_id) == (3, set())
    # SBOMs that do not name acme-widgets (this team's and another's), and one that names it unaffected.
    decoys = [
        await upload(env, owner, b"acme-gadgets==1.0\njinja2==2.10\n", "requirements.txt"),
        await upload(env, other, b"acme-sprockets==2.0\n", "requirements.txt"),
    ]
    unaffected = await upload(env, other, b"acme-widgets==2.0\n", "requirements.txt")
    naming, stored_sboms = await sboms_naming(env, "acme-widgets")
    assert naming == 2
    assert stored_sboms >= naming + len(decoys)
    nc = await nats.connect(env.nats_url)
    events: list[dict[str, Any]] = []

    async def collect(message: Any) -> None:
        events.append(json.loads(message.data)["payload"])

    await nc.subscribe(FINDINGS_CHANGED.subject, cb=collect)
    try:
        first = datetime(2030, 1, 1, tzinfo=UTC)
        info = await import_archive(env, osv_archive(_advisory("MNO-TEST-1", first)), "test")
        # Re-examined: the two SBOMs naming acme-widgets, of however many are stored.
        assert (info["new"], info["findings_changed"], info["sboms_rescanned"]) == (1, 1, 2)
        assert await newest_scan_attestation(env, owner, sbom_id) == (4, {"MNO-TEST-1"})
        for decoy in (*decoys, unaffected):
            who = owner if decoy is decoys[0] else other
            status, held = await call(env, "GET", f"/api/v1/sboms/{decoy['sbom']['id']}", who.headers)
            assert status == 200, held
            assert held["attestations"] == decoy["sbom"]["attestations"]  # no new scan signed
        status, found = await call(env, "GET", "/api/v1/vulnerabilities", owner.headers)
        [finding] = [f for f in found["items"] if f["advisory_id"] == "MNO-TEST-1"]
        assert finding["fixed_versions"] == ["1.5"]
        assert finding["severity"]["rating"] is None

        changed = _advisory(
            "MNO-TEST-1",
            first + timedelta(days=1),
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        )
        changed["affected"][0]["ranges"][0]["events"][1] = {"fixed": "1.2"}
        info = await import_archive(env, osv_archive(changed), "test")
        assert (info["modified"], info["findings_changed"]) == (1, 1)
        status, detail = await call(env, "GET", f"/api/v1/vulnerabilities/{finding['id']}", owner.headers)
        assert status == 200
        assert detail["finding"]["fixed_versions"] == ["1.2"]
        assert detail["finding"]["severity"] == {
            "rating": "critical",
            "score": 9.8,
            "method": "CVSS_V3",
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        }
        info = await import_archive(env, osv_archive(changed), "test")
        assert (info["unchanged"], info["findings_changed"]) == (1, 0)
        assert await newest_scan_attestation(env, owner, sbom_id) == (5, {"MNO-TEST-1"})

        withdrawn = {**changed, "modified": "2030-01-03T00:00:00Z", "withdrawn": "2030-01-03T00:00:00Z"}
        info = await import_archive(env, osv_archive(withdrawn), "test")
        assert (info["withdrawn"], info["findings_changed"]) == (1, 1)
        status, found = await call(env, "GET", "/api/v1/vulnerabilities", owner.headers)
        assert [f for f in found["items"] if f["advisory_id"] == "MNO-TEST-1"] == []
        status, found = await call(
            env, "GET", "/api/v1/vulnerabilities", owner.headers, params={"include_retired": "true"}
        )
        [retired] = [f for f in found["items"] if f["advisory_id"] == "MNO-TEST-1"]
        assert retired["retired_reason"] == "withdrawn"
        assert retired["retired_at"] is not None
        assert await newest_scan_attestation(env, owner, sbom_id) == (6, set())
        await nc.flush()
    finally:
        await nc.close()
    ours = [e for e in events if e["team_id"] == owner.team_id]
    assert [(e["new"], e["updated"], e["retired"]) for e in ours] == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    assert ours[1]["highest_rating"] == "critical"


async def test_an_advisory_modified_out_of_the_stored_version_retires_its_finding(env: Env) -> None:
    """An advisory re-imported modified so that it no longer covers the stored version (introduced moved
    above it) retires the finding as `no_longer_affected` (kept, listed with include_retired), the
    findings_changed event reports one retired finding of that advisory and nothing new, and the SBOM's
    newly signed scan no longer names it."""
    owner = await team(env)
    stored = await upload(env, owner, b"acme-levers==1.0\n", "requirements.txt")
    sbom_id = stored["sbom"]["id"]
    nc = await nats.connect(env.nats_url)
    events: list[dict[str, Any]] = []

    async def collect(message: Any) -> None:
        events.append(json.loads(message.data)["payload"])

    await nc.subscribe(FINDINGS_CHANGED.subject, cb=collect)
    try:
        first = datetime(2030, 2, 1, tzinfo=UTC)
        info = await import_archive(env, osv_archive(_advisory("MNO-TEST-2", first, "acme-levers")), "test")
        assert (info["new"], info["findings_changed"]) == (1, 1), info
        status, found = await call(env, "GET", "/api/v1/vulnerabilities", owner.headers)
        [finding] = [f for f in found["items"] if f["advisory_id"] == "MNO-TEST-2"]
        assert finding["version"] == "1.0"

        moved = _advisory("MNO-TEST-2", first + timedelta(days=1), "acme-levers")
        moved["affected"][0]["ranges"][0]["events"] = [{"introduced": "1.1"}, {"fixed": "1.5"}]
        info = await import_archive(env, osv_archive(moved), "test")
        assert (info["modified"], info["findings_changed"], info["sboms_rescanned"]) == (1, 1, 1), info
        status, found = await call(env, "GET", "/api/v1/vulnerabilities", owner.headers)
        assert [f for f in found["items"] if f["advisory_id"] == "MNO-TEST-2"] == []
        status, detail = await call(env, "GET", f"/api/v1/vulnerabilities/{finding['id']}", owner.headers)
        assert status == 200, detail
        assert detail["finding"]["retired_reason"] == "no_longer_affected"
        assert detail["finding"]["retired_at"] is not None
        status, found = await call(
            env,
            "GET",
            "/api/v1/vulnerabilities",
            owner.headers,
            params={"include_retired": "true", "sbom_id": sbom_id},
        )
        assert [(f["advisory_id"], f["retired_reason"]) for f in found["items"]] == [
            ("MNO-TEST-2", "no_longer_affected")
        ]
        assert await newest_scan_attestation(env, owner, sbom_id) == (5, set())
        await nc.flush()
    finally:
        await nc.close()
    ours = [e for e in events if e["team_id"] == owner.team_id]
    assert [
        (e["cause"], e["new"], e["updated"], e["retired"], e["advisory_ids"], e["sbom_ids"]) for e in ours
    ] == [
        ("advisory_import", 1, 0, 0, ["MNO-TEST-2"], [sbom_id]),
        ("advisory_import", 0, 0, 1, ["MNO-TEST-2"], [sbom_id]),
    ]


async def test_triage_is_kept_across_rescans_audited_and_exported(env: Env) -> None:
    """A not_affected decision survives a re-upload (a modified advisory: test_exports_and_imports.py), is
    audited, and is exported as OpenVEX and CycloneDX VEX; a decision VEX does not allow is a 422."""
    owner = await team(env)
    first = await upload(env, owner, b"jinja2==2.10\n", "requirements.txt")
    finding = next(f for f in first["findings"] if f["advisory_id"] == "PYSEC-2019-217")
    path = f"/api/v1/vulnerabilities/{finding['id']}/triage"
    status, refused = await call(env, "POST", path, owner.headers, json_body={"status": "not_affected"})
    assert status == 422, refused
    assert refused["error"]["details"][0]["type"] == "invalid_triage", refused
    decision = {
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
        "impact_statement": "we never render untrusted templates",
    }
    status, triaged = await call(env, "POST", path, owner.headers, json_body=decision)
    assert status == 200, triaged
    assert [h["status"] for h in triaged["history"]] == ["under_investigation", "not_affected"]

    second = await upload(env, owner, b"jinja2==2.10\n", "requirements.txt")
    again = next(f for f in second["findings"] if f["advisory_id"] == "PYSEC-2019-217")
    assert again["id"] != finding["id"]
    assert again["triage"] == "not_affected"

    async with env.pool.acquire() as conn:
        audited = await conn.fetchval(
            "SELECT count(*) FROM super_agent.audit_entries WHERE team_id = $1::uuid "
            "AND action = 'supply_chain.triage' AND resource_id = $2",
            owner.team_id,
            finding["id"],
        )
    assert audited == 1

    sbom_id = second["sbom"]["id"]
    status, vex = await call(env, "GET", f"/api/v1/sboms/{sbom_id}/vex", owner.headers)
    assert status == 200, vex
    assert vex["@context"] == "https://openvex.dev/ns/v0.2.0"
    statement = next(s for s in vex["statements"] if s["vulnerability"]["name"] == "PYSEC-2019-217")
    assert statement["status"] == "not_affected"
    assert statement["justification"] == "vulnerable_code_not_in_execute_path"
    assert "CVE-2019-10906" in statement["vulnerability"]["aliases"]
    assert statement["products"][0]["subcomponents"][0]["@id"] == "pkg:pypi/jinja2@2.10"
    status, cdx = await call(
        env, "GET", f"/api/v1/sboms/{sbom_id}/vex", owner.headers, params={"format": "cyclonedx"}
    )
    assert status == 200
    validate_cyclonedx(json.dumps(cdx), "1.6")
    vulnerability = next(v for v in cdx["vulnerabilities"] if v["id"] == "PYSEC-2019-217")
    assert vulnerability["analysis"]["state"] == "not_affected"


async def test_sbom_downloads_validate_and_attestations_verify(env: Env) -> None:
    """The stored SBOM downloads as CycloneDX 1.6 and SPDX 2.3 that validate; it is signed in both forms
    (each attestation's predicate the document its download serves) and its scan is signed; each verifies
    by id and as an uploaded envelope; a tampered envelope (the scan's, the SPDX one's) is a 422
    invalid_attestation."""
    owner = await team(env)
    stored = await upload(env, owner, REQUIREMENTS, "requirements.txt")
    sbom = stored["sbom"]
    status, cdx = await call(env, "GET", f"/api/v1/sboms/{sbom['id']}/document", owner.headers)
    assert status == 200
    validate_cyclonedx(json.dumps(cdx), "1.6")
    assert {c["purl"] for c in cdx["components"]} == {"pkg:pypi/jinja2@2.10", "pkg:pypi/aiohttp@0.10.0"}
    status, spdx = await call(
        env, "GET", f"/api/v1/sboms/{sbom['id']}/document", owner.headers, params={"format": "spdx"}
    )
    assert status == 200
    assert len(read_spdx(json.dumps(spdx)).components) == 2

    # An uploaded CycloneDX SBOM (our own download) is scanned the same way.
    again = await upload(env, owner, json.dumps(cdx).encode(), "bom.cdx.json")
    assert again["input_format"] == "cyclonedx"
    assert {f["advisory_id"] for f in again["findings"]} == {f["advisory_id"] for f in stored["findings"]}

    status, keys = await call(env, "GET", "/api/v1/supply-chain/keys", owner.headers)
    assert status == 200
    assert keys["keys"][0]["current"]
    statements, envelopes = [], []
    for attestation_id in sbom["attestations"]:
        status, verified = await call(
            env, "POST", f"/api/v1/attestations/{attestation_id}/verify", owner.headers
        )
        assert status == 200, verified
        assert verified["key_id"] == keys["keys"][0]["key_id"]
        status, envelope = await call(env, "GET", f"/api/v1/attestations/{attestation_id}", owner.headers)
        assert status == 200, envelope
        status, uploaded = await call(
            env, "POST", "/api/v1/attestations/verify", owner.headers, body=json.dumps(envelope).encode()
        )
        assert status == 200, uploaded
        statement = json.loads(base64.b64decode(envelope["payload"]))
        assert uploaded["predicate_type"] == verified["predicate_type"] == statement["predicateType"]
        assert statement["subject"] == [
            {"name": "requirements.txt", "digest": {"sha256": hashlib.sha256(REQUIREMENTS).hexdigest()}}
        ]
        statements.append(statement)
        envelopes.append(envelope)
    assert [s["predicateType"] for s in statements] == [
        "https://cyclonedx.org/bom/v1.6",
        "https://spdx.dev/Document/v2.3",
        "https://in-toto.io/attestation/vulns/v0.2",
    ]
    # Each SBOM attestation signs the very document its download serves.
    assert statements[0]["predicate"] == cdx
    assert statements[1]["predicate"] == spdx
    assert {r["id"] for r in statements[2]["predicate"]["scanner"]["result"]} >= {"PYSEC-2019-217"}

    scan = statements[2]
    scan["predicate"]["scanner"]["result"] = []  # hide the findings
    spdx_statement = statements[1]
    spdx_statement["predicate"]["packages"] = [  # hide a vulnerable package
        p for p in spdx_statement["predicate"]["packages"] if p["name"] != "jinja2"
    ]
    for envelope, statement in ((envelopes[2], scan), (envelopes[1], spdx_statement)):
        forged = dict(envelope, payload=base64.b64encode(json.dumps(statement).encode()).decode())
        status, refused = await call(
            env, "POST", "/api/v1/attestations/verify", owner.headers, body=json.dumps(forged).encode()
        )
        assert status == 422, refused
        assert refused["error"]["details"][0]["type"] == "invalid_attestation"


async def test_another_team_sees_none_of_it(env: Env) -> None:
    """Team B's lists are empty and every id of team A's SBOMs, findings and attestations is a 404."""
    a = await team(env)
    b = await team(env)
    stored = await upload(env, a, REQUIREMENTS, "requirements.txt")
    sbom = stored["sbom"]
    finding = stored["findings"][0]
    for path in ("/api/v1/sboms", "/api/v1/vulnerabilities", "/api/v1/attestations"):
        status, listed = await call(env, "GET", path, b.headers)
        assert status == 200, (path, listed)
        assert listed["items"] == [], (path, listed)
    for method, path, body in (
        ("GET", f"/api/v1/sboms/{sbom['id']}", None),
        ("GET", f"/api/v1/sboms/{sbom['id']}/document", None),
        ("GET", f"/api/v1/sboms/{sbom['id']}/vex", None),
        ("GET", f"/api/v1/vulnerabilities/{finding['id']}", None),
        ("POST", f"/api/v1/vulnerabilities/{finding['id']}/triage", {"status": "fixed"}),
        ("GET", f"/api/v1/attestations/{sbom['attestations'][0]}", None),
        ("POST", f"/api/v1/attestations/{sbom['attestations'][0]}/verify", None),
    ):
        status, answer = await call(env, method, path, b.headers, json_body=body)
        assert status == 404, (path, answer)
        assert answer["error"]["code"] == "not_found", (path, answer)
        assert "jinja2" not in json.dumps(answer)
    status, detail = await call(env, "GET", f"/api/v1/vulnerabilities/{finding['id']}", a.headers)
    assert detail["triage"]["status"] == "under_investigation"


async def test_bad_documents_are_refused_with_typed_4xx(env: Env) -> None:
    """A malformed SBOM, an XXE pom.xml, an unknown file, an empty body and a non-archive import are
    4xx with a machine-readable type; a viewer may not upload."""
    owner = await team(env)
    cases = [
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": 1}]}',
            "bom.json",
            422,
            "invalid_sbom",
        ),
        (b'{"spdxVersion": "SPDX-2.3"}', "sbom.spdx.json", 422, "invalid_sbom"),
        (
            b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<project><dependencies><dependency><groupId>&x;</groupId></dependency></dependencies></project>",
            "pom.xml",
            422,
            "invalid_lockfile",
        ),
        (b"anything", "notes.md", 422, "invalid_lockfile"),
        (b"", "requirements.txt", 400, "missing_body"),
    ]
    for content, filename, code, kind in cases:
        status, answer = await call(
            env, "POST", "/api/v1/sboms", owner.headers, body=content, params={"filename": filename}
        )
        assert status == code, (filename, answer)
        assert answer["error"]["details"][0]["type"] == kind, (filename, answer)
    status, answer = await call(
        env, "POST", "/api/v1/operator/advisories/import", OPERATOR, body=b"not an archive"
    )
    assert status == 400, answer
    assert answer["error"]["details"][0]["type"] == "invalid_archive", answer
    viewer = await team(env, Role.VIEWER)
    status, answer = await call(
        env,
        "POST",
        "/api/v1/sboms",
        viewer.headers,
        body=b"jinja2==2.10\n",
        params={"filename": "requirements.txt"},
    )
    assert status == 403, answer


async def test_a_published_version_gets_a_signed_sbom_and_findings_once(env: Env) -> None:
    """An artifact_published event makes the version's SBOM from its pinned dependencies, scanned and
    signed; the same event again (same id) changes nothing."""
    owner = await team(env)
    event = ArtifactPublished(
        team_id=owner.team_id,
        ecosystem=Ecosystem.PYPI,
        name="acme-app",
        version="1.0",
        purl="pkg:pypi/acme-app@1.0",
        file=FileInfo(
            filename="acme_app-1.0-py3-none-any.whl",
            size=10,
            sha256="ab" * 32,
            kind="wheel",
            uploaded_at=datetime.now(UTC),
        ),
        dependencies=[
            Dependency(name="jinja2", requirement="==2.10"),
            Dependency(name="requests", requirement=">=2"),
        ],
    )
    nc = await nats.connect(env.nats_url)
    try:
        bus = Bus(nc, source="test", request_timeout=10)
        for _ in range(2):
            await bus.publish(
                ARTIFACT_PUBLISHED, event, MessageContext(), message_id=f"published-{owner.team_id}"
            )
    finally:
        await nc.close()
    for _ in range(200):
        _, sboms = await call(env, "GET", "/api/v1/sboms", owner.headers)
        if sboms["items"]:
            break
        await asyncio.sleep(0.1)
    [sbom] = sboms["items"]
    assert (sbom["source"], sbom["subject_name"], sbom["subject_version"]) == ("artifact", "acme-app", "1.0")
    assert len(sbom["attestations"]) == 3  # the SBOM as CycloneDX and as SPDX, and its scan
    assert sbom["components"] == 2
    _, found = await call(
        env, "GET", "/api/v1/vulnerabilities", owner.headers, params={"sbom_id": sbom["id"]}
    )
    assert "PYSEC-2019-217" in {f["advisory_id"] for f in found["items"]}
    assert found["items"][0]["path"][0] == "pkg:pypi/acme-app@1.0"
    _, cdx = await call(env, "GET", f"/api/v1/sboms/{sbom['id']}/document", owner.headers)
    validate_cyclonedx(json.dumps(cdx), "1.6")
    await asyncio.sleep(1)
    _status, sboms = await call(env, "GET", "/api/v1/sboms", owner.headers)
    assert sboms["total"] == 1


async def test_mno_scan_and_verify_exit_codes(env: Env, tmp_path: Path) -> None:
    """`mno scan` exits 1 on a finding at or above --fail-on and 0 below it (unrated findings fail unless
    allowed), 2 on a refused file; `mno verify` exits 0 for a stored envelope and 1 for a tampered one."""
    owner = await team(env)
    auth = ["--url", env.base, "--api-key", owner.key]
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("aiohttp==0.10.0\n")
    high = await asyncio.to_thread(mno, "scan", str(project), *auth)
    assert high.returncode == 1, high.stdout + high.stderr
    assert "PYSEC-2023-246" in high.stdout
    assert "high" in high.stdout
    passed = await asyncio.to_thread(
        mno, "scan", str(project), *auth, "--fail-on", "critical", "--allow-unrated"
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr
    as_json = await asyncio.to_thread(
        mno,
        "scan",
        str(project / "requirements.txt"),
        *auth,
        "--json",
        "--fail-on",
        "critical",
        "--allow-unrated",
    )
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)[0]["findings"]
    (project / "requirements.txt").write_text("acme-nothing-known==1.0\n")
    clean = await asyncio.to_thread(mno, "scan", str(project), *auth)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (tmp_path / "pom.xml").write_text('<!DOCTYPE p [<!ENTITY x "y">]><project/>')
    refused = await asyncio.to_thread(mno, "scan", str(tmp_path / "pom.xml"), *auth)
    assert refused.returncode == 2, refused.stderr
    assert "invalid_lockfile" in refused.stderr, refused.stderr
    _, sboms = await call(env, "GET", "/api/v1/sboms", owner.headers)
    assert sboms["items"] == [], "mno scan stores nothing"

    stored = await upload(env, owner, b"jinja2==2.10\n", "requirements.txt")
    _cdx, spdx_id, scan_id = stored["sbom"]["attestations"]
    _, envelope = await call(env, "GET", f"/api/v1/attestations/{scan_id}", owner.headers)
    good = tmp_path / "scan.dsse.json"
    good.write_text(json.dumps(envelope))
    verified = await asyncio.to_thread(mno, "verify", str(good), *auth)
    assert verified.returncode == 0, verified.stderr
    assert "verified" in verified.stdout, verified.stderr
    _status, keys = await call(env, "GET", "/api/v1/supply-chain/keys", owner.headers)
    key_file = tmp_path / "key.pem"
    key_file.write_text(keys["keys"][0]["pem"])
    offline = await asyncio.to_thread(mno, "verify", str(good), "--key", str(key_file))
    assert offline.returncode == 0, offline.stderr
    # The SBOM's SPDX form verifies offline too, and not once a package is taken out of it.
    _, spdx_envelope = await call(env, "GET", f"/api/v1/attestations/{spdx_id}", owner.headers)
    spdx_file = tmp_path / "sbom.spdx.dsse.json"
    spdx_file.write_text(json.dumps(spdx_envelope))
    spdx_verified = await asyncio.to_thread(mno, "verify", str(spdx_file), "--key", str(key_file))
    assert spdx_verified.returncode == 0, spdx_verified.stderr
    assert "https://spdx.dev/Document/v2.3" in spdx_verified.stdout, spdx_verified.stdout
    spdx_payload = json.loads(base64.b64decode(spdx_envelope["payload"]))
    spdx_payload["predicate"]["packages"] = spdx_payload["predicate"]["packages"][1:]
    spdx_file.write_text(
        json.dumps(dict(spdx_envelope, payload=base64.b64encode(json.dumps(spdx_payload).encode()).decode()))
    )
    spdx_tampered = await asyncio.to_thread(mno, "verify", str(spdx_file), "--key", str(key_file))
    assert spdx_tampered.returncode == 1, spdx_tampered.stderr
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["subject"][0]["digest"]["sha256"] = "0" * 64
    bad = tmp_path / "tampered.dsse.json"
    bad.write_text(
        json.dumps(dict(envelope, payload=base64.b64encode(json.dumps(payload).encode()).decode()))
    )
    tampered = await asyncio.to_thread(mno, "verify", str(bad), *auth)
    assert tampered.returncode == 1, tampered.stderr
    assert "NOT verified" in tampered.stderr, tampered.stderr
