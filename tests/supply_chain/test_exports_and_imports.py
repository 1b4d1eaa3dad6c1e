"""Documents out and archives in, end to end: VEX exports of untriaged and triaged findings, triage
across an advisory's modification, SPDX downloads against the official schema, and advisory archives
that expand past their limits. The edge and the SupplyChainAgent run as real processes (real NATS,
PostgreSQL, filesystem blob store); advisories of our own are imported through the operator route."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.supply_chain.sbom.cyclonedx import to_cyclonedx, validate_cyclonedx
from services.supply_chain.sbom.spdx import read_spdx
from services.supply_chain.sources import ADVISORY_ARCHIVE_LIMITS
from tests.supply_chain.mesh_support import (
    OPERATOR,
    Env,
    Team,
    call,
    import_archive,
    osv_archive,
    start,
    team,
)
from tests.supply_chain.openvex_rules import openvex_problems
from tests.supply_chain.test_sbom import ARTIFACTS, CREATED, graph
from tests.supply_chain.test_spdx_schema import spdx_schema_problems

FIRST = datetime(2030, 1, 1, tzinfo=UTC)


def advisory(
    advisory_id: str, package: str, fixed: str, modified: datetime = FIRST, **extra: Any
) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": modified.isoformat().replace("+00:00", "Z"),
        "summary": f"{package} parses hostile input",
        "aliases": [f"ALIAS-{advisory_id}"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
        **extra,
    }


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """The mesh, with two advisories of acme packages imported."""
    async for running in start(tmp_path_factory.mktemp("vex"), postgres_dsn):
        info = await import_archive(
            running,
            osv_archive(
                advisory("MNO-VEX-1", "acme-widgets", "1.5"), advisory("MNO-VEX-2", "acme-gadgets", "2.0")
            ),
            "vex-test",
        )
        assert (info["status"], info["new"]) == ("finished", 2), info
        yield running


async def upload(env: Env, who: Team, content: bytes) -> dict[str, Any]:
    status, answer = await call(
        env, "POST", "/api/v1/sboms", who.headers, body=content, params={"filename": "requirements.txt"}
    )
    assert status == 201, answer
    assert isinstance(answer, dict)
    return answer


async def vex(env: Env, who: Team, sbom_id: str, fmt: str) -> tuple[int, Any]:
    return await call(env, "GET", f"/api/v1/sboms/{sbom_id}/vex", who.headers, params={"format": fmt})


async def valid_vex(env: Env, who: Team, sbom_id: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Both exports, checked against their formats' rules: (OpenVEX statements, CycloneDX analyses), each
    by (advisory, component purl)."""
    status, openvex = await vex(env, who, sbom_id, "openvex")
    assert status == 200, openvex
    assert openvex_problems(openvex) == []
    statements = {
        (s["vulnerability"]["name"], s["products"][0]["subcomponents"][0]["@id"]): s
        for s in openvex["statements"]
    }
    assert len(statements) == len(openvex["statements"])
    status, cdx = await vex(env, who, sbom_id, "cyclonedx")
    assert status == 200, cdx
    validate_cyclonedx(json.dumps(cdx), "1.6")
    analyses = {(v["id"], v["affects"][0]["ref"]): v["analysis"] for v in cdx.get("vulnerabilities", [])}
    return statements, analyses


async def test_vex_exports_every_open_finding_whether_triaged_or_not(env: Env) -> None:
    """A fresh upload's untriaged findings export as valid OpenVEX (under_investigation) and CycloneDX VEX
    (in_triage), one statement each, and still do when no triage row holds them at all."""
    owner = await team(env)
    stored = await upload(env, owner, b"acme-widgets==1.0\nacme-gadgets==1.9\n")
    expected = {(f["advisory_id"], f["purl"]) for f in stored["findings"]}
    assert expected == {
        ("MNO-VEX-1", "pkg:pypi/acme-widgets@1.0"),
        ("MNO-VEX-2", "pkg:pypi/acme-gadgets@1.9"),
    }
    sbom_id = stored["sbom"]["id"]
    for rows_deleted in (False, True):
        if rows_deleted:  # findings without a triage row (stored before one was written, or rows lost)
            async with env.pool.acquire() as conn:
                await conn.execute("DELETE FROM supply_chain.triage WHERE team_id = $1::uuid", owner.team_id)
        statements, analyses = await valid_vex(env, owner, sbom_id)
        assert statements.keys() == expected, rows_deleted
        assert {s["status"] for s in statements.values()} == {"under_investigation"}
        assert analyses.keys() == expected, rows_deleted
        assert {a["state"] for a in analyses.values()} == {"in_triage"}


async def test_vex_mixes_triaged_and_untriaged_findings(env: Env) -> None:
    """One finding triaged affected, the other never triaged: both are exported, each with its own status."""
    owner = await team(env)
    stored = await upload(env, owner, b"acme-widgets==1.0\nacme-gadgets==1.9\n")
    widgets = next(f for f in stored["findings"] if f["advisory_id"] == "MNO-VEX-1")
    status, triaged = await call(
        env,
        "POST",
        f"/api/v1/vulnerabilities/{widgets['id']}/triage",
        owner.headers,
        json_body={"status": "affected", "action_statement": "upgrade acme-widgets to 1.5"},
    )
    assert status == 200, triaged
    statements, analyses = await valid_vex(env, owner, stored["sbom"]["id"])
    assert {k[0]: s["status"] for k, s in statements.items()} == {
        "MNO-VEX-1": "affected",
        "MNO-VEX-2": "under_investigation",
    }
    assert statements[("MNO-VEX-1", widgets["purl"])]["action_statement"] == "upgrade acme-widgets to 1.5"
    assert {k[0]: a["state"] for k, a in analyses.items()} == {
        "MNO-VEX-1": "exploitable",
        "MNO-VEX-2": "in_triage",
    }


async def test_vex_of_an_sbom_without_findings(env: Env) -> None:
    """No open findings: CycloneDX VEX is a valid document with no vulnerabilities; OpenVEX, which needs a
    statement, is a 409 no_open_findings naming the other format (not a 422, not an invalid file)."""
    owner = await team(env)
    stored = await upload(env, owner, b"acme-widgets==1.5\n")
    assert stored["findings"] == []
    sbom_id = stored["sbom"]["id"]
    status, cdx = await vex(env, owner, sbom_id, "cyclonedx")
    assert status == 200, cdx
    validate_cyclonedx(json.dumps(cdx), "1.6")
    assert cdx.get("vulnerabilities", []) == []
    status, refused = await vex(env, owner, sbom_id, "openvex")
    assert status == 409, refused
    assert refused["error"]["details"][0]["type"] == "no_open_findings", refused
    assert "format=cyclonedx" in refused["error"]["message"]


async def test_a_triage_decision_survives_a_modified_advisory(env: Env) -> None:
    """A not_affected decision outlives a re-import of its advisory modified (new fix, severity, aliases):
    the finding is updated, its triage and history stay, and both VEX exports still carry the decision."""
    owner = await team(env)
    stored = await upload(env, owner, b"acme-sprockets==1.0\n")
    assert stored["findings"] == []
    original = advisory("MNO-VEX-3", "acme-sprockets", "1.5")
    info = await import_archive(env, osv_archive(original), "vex-test")
    assert (info["new"], info["findings_changed"]) == (1, 1), info
    status, found = await call(env, "GET", "/api/v1/vulnerabilities", owner.headers)
    [finding] = [f for f in found["items"] if f["advisory_id"] == "MNO-VEX-3"]
    decision = {
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
        "impact_statement": "we never parse sprocket files",
    }
    status, triaged = await call(
        env, "POST", f"/api/v1/vulnerabilities/{finding['id']}/triage", owner.headers, json_body=decision
    )
    assert status == 200, triaged

    modified = advisory(
        "MNO-VEX-3",
        "acme-sprockets",
        "1.2",
        FIRST + timedelta(days=1),
        aliases=["CVE-2099-0303", "GHSA-aaaa-bbbb-cccc"],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    )
    info = await import_archive(env, osv_archive(modified), "vex-test")
    assert (info["modified"], info["findings_changed"]) == (1, 1), info
    status, detail = await call(env, "GET", f"/api/v1/vulnerabilities/{finding['id']}", owner.headers)
    assert status == 200, detail
    assert detail["finding"]["fixed_versions"] == ["1.2"]  # the modification reached the finding
    assert detail["finding"]["severity"]["rating"] == "critical"
    assert detail["finding"]["triage"] == "not_affected"
    assert detail["triage"]["justification"] == "vulnerable_code_not_in_execute_path"
    assert [h["status"] for h in detail["triage"]["history"]] == ["under_investigation", "not_affected"]

    statements, analyses = await valid_vex(env, owner, stored["sbom"]["id"])
    key = ("MNO-VEX-3", "pkg:pypi/acme-sprockets@1.0")
    assert statements[key]["status"] == "not_affected"
    assert statements[key]["justification"] == "vulnerable_code_not_in_execute_path"
    assert set(statements[key]["vulnerability"]["aliases"]) == {"CVE-2099-0303", "GHSA-aaaa-bbbb-cccc"}
    assert analyses[key]["state"] == "not_affected"
    assert analyses[key]["justification"] == "code_not_reachable"


@pytest.mark.parametrize("ecosystem", sorted(ARTIFACTS))
async def test_the_spdx_download_validates_against_the_spdx_2_3_schema(env: Env, ecosystem: str) -> None:
    """An uploaded SBOM of each ecosystem downloads as SPDX 2.3 JSON valid against the official schema
    (and spdx-tools' rules), naming the same components."""
    owner = await team(env)
    sbom = graph(ecosystem)
    status, stored = await call(
        env,
        "POST",
        "/api/v1/sboms",
        owner.headers,
        body=to_cyclonedx(sbom, created=CREATED, tool_version="0.1.0").encode(),
        params={"filename": "bom.cdx.json"},
    )
    assert status == 201, stored
    status, spdx = await call(
        env, "GET", f"/api/v1/sboms/{stored['sbom']['id']}/document", owner.headers, params={"format": "spdx"}
    )
    assert status == 200, spdx
    assert spdx_schema_problems(spdx) == []
    assert {c.purl for c in read_spdx(json.dumps(spdx)).components} == {c.purl for c in sbom.components}


# --- advisory archives past their limits ------------------------------------------------------------


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        count = min(len(target), self.left)
        target[:count] = bytes(count)
        self.left -= count
        return count


def bomb_archive(kind: str, records: list[dict[str, Any]], bomb: str, size: int) -> bytes:
    """A zip or tar.gz of OSV records, then a member `bomb` of `size` zero bytes (about 1000:1)."""
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for record in records:
                archive.writestr(f"osv/{record['id']}.json", json.dumps(record))
            with archive.open(bomb, "w", force_zip64=True) as member:
                zeros = _Zeros(size)
                while chunk := zeros.read(1 << 20):
                    member.write(chunk)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as archive:
            for record in records:
                data = json.dumps(record).encode()
                info = tarfile.TarInfo(f"osv/{record['id']}.json")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo(bomb)
            info.size = size
            archive.addfile(info, io.BufferedReader(_Zeros(size)))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "size", "limit"),
    [
        # Under the per-member size, so only the expansion gives it away (as a header that lies would).
        ("zip", 12 << 20, f"{ADVISORY_ARCHIVE_LIMITS.max_ratio:g}:1"),
        ("tar.gz", 12 << 20, f"{ADVISORY_ARCHIVE_LIMITS.max_ratio:g}:1"),
        # Past it: refused on its header, before a byte is decompressed.
        ("zip", 64 << 20, f"{ADVISORY_ARCHIVE_LIMITS.max_member_bytes} bytes"),
        ("tar.gz", 64 << 20, f"{ADVISORY_ARCHIVE_LIMITS.max_member_bytes} bytes"),
    ],
)
async def test_an_advisory_archive_bomb_is_refused_naming_the_limit_and_imports_nothing(
    env: Env, kind: str, size: int, limit: str
) -> None:
    """A zip or tar.gz with a member of zeros (1000:1) is a 400 unsafe_archive naming the member and the
    limit it passed; the good record before it is not imported, and the import is recorded as failed."""
    good = advisory(f"MNO-BOMB-{kind}-{size}", "acme-bombs", "1.0")
    body = bomb_archive(kind, [good], "osv/bomb.json", size)
    assert len(body) < size // 200
    async with env.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM supply_chain.advisories")
    source = f"bomb-{kind}-{size}"
    status, refused = await call(
        env, "POST", "/api/v1/operator/advisories/import", OPERATOR, body=body, params={"source": source}
    )
    assert status == 400, refused
    assert refused["error"]["details"][0]["type"] == "unsafe_archive", refused
    message = refused["error"]["message"]
    assert "osv/bomb.json" in message, message
    assert limit in message, message
    async with env.pool.acquire() as conn:
        after = await conn.fetchval("SELECT count(*) FROM supply_chain.advisories")
        held = await conn.fetchval("SELECT count(*) FROM supply_chain.advisories WHERE id = $1", good["id"])
        ledger = await conn.fetchrow(
            "SELECT status, failure FROM supply_chain.advisory_imports WHERE source = $1", source
        )
    assert (after, held) == (before, 0)
    assert ledger["status"] == "failed"
    assert "unsafe_archive" in ledger["failure"]
