"""Documents out and archives in, end to end: VEX exports of untriaged and triaged findings, triage
across an advisory's modification, SPDX downloads against the official schema, an SPDX 2.3 document
as syft writes it uploaded and scanned, advisories scored by CVSS v4 only, a zip of advisories
imported with `mno advisories import`, and advisory archives that expand past their limits. The edge
and the SupplyChainAgent run as real processes (real NATS, PostgreSQL, filesystem blob store);
advisories of our own are imported through the operator route."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.supply_chain.sbom.cyclonedx import to_cyclonedx, validate_cyclonedx
from services.supply_chain.sbom.spdx import read_spdx
from services.supply_chain.sources import ADVISORY_ARCHIVE_LIMITS
from tests.fixtures.mesh import TOKEN
from tests.supply_chain.mesh_support import (
    OPERATOR,
    Env,
    Team,
    call,
    import_archive,
    mno,
    osv_archive,
    start,
    team,
)
from tests.supply_chain.openvex_rules import openvex_problems
from tests.supply_chain.test_sbom import ARTIFACTS, CREATED, graph
from tests.supply_chain.test_spdx_schema import spdx_schema_problems

FIRST = datetime(2030, 1, 1, tzinfo=UTC)
SPDX_DATA = Path(__file__).resolve().parents[1] / "data" / "spdx"


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


async def upload(env: Env, who: Team, content: bytes, filename: str = "requirements.txt") -> dict[str, Any]:
    status, answer = await call(
        env, "POST", "/api/v1/sboms", who.headers, body=content, params={"filename": filename}
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


# --- documents made elsewhere, advisories as the databases ship them --------------------------------


async def test_an_spdx_document_as_syft_writes_it_is_scanned_with_paths(env: Env) -> None:
    """syft's SPDX 2.3 JSON of a Python project (tests/data/spdx/README.md: its directory as root package,
    CPE and purl references, DEPENDENCY_OF between packages, files tied by `evident-by`) uploads as
    `spdx`; the advisory of one of its packages is a finding with the path from the scanned directory,
    and the SBOM is stored, signed and downloadable as CycloneDX naming the same packages."""
    owner = await team(env)
    info = await import_archive(env, osv_archive(advisory("MNO-SPDX-1", "markupsafe", "2.0.0")), "vex-test")
    assert info["new"] == 1, info
    content = (SPDX_DATA / "syft-1.18-python-dir.spdx.json").read_bytes()
    stored = await upload(env, owner, content, "shop.spdx.json")
    assert (stored["input_format"], stored["components"]) == ("spdx", 4)
    assert stored["skipped"] == []
    [finding] = stored["findings"]
    assert (finding["advisory_id"], finding["package"], finding["version"], finding["purl"]) == (
        "MNO-SPDX-1",
        "markupsafe",
        "1.1.1",
        "pkg:pypi/markupsafe@1.1.1",
    )
    assert finding["fixed_versions"] == ["2.0.0"]
    assert finding["path"] == ["SPDXRef-DocumentRoot-Directory--src-shop", "pkg:pypi/markupsafe@1.1.1"]
    sbom = stored["sbom"]
    assert (sbom["input_format"], sbom["subject_name"], sbom["findings"]) == (
        "spdx",
        "/src/shop",
        {"unrated": 1},
    )
    assert len(sbom["attestations"]) == 3
    status, listed = await call(
        env, "GET", "/api/v1/vulnerabilities", owner.headers, params={"sbom_id": sbom["id"]}
    )
    assert status == 200, listed
    assert [(f["id"], f["path"]) for f in listed["items"]] == [(finding["id"], finding["path"])]
    status, cdx = await call(env, "GET", f"/api/v1/sboms/{sbom['id']}/document", owner.headers)
    assert status == 200, cdx
    validate_cyclonedx(json.dumps(cdx), "1.6")
    assert {c["purl"] for c in cdx["components"]} == {
        "pkg:pypi/flask@1.0",
        "pkg:pypi/jinja2@2.10",
        "pkg:pypi/markupsafe@1.1.1",
        "pkg:pypi/werkzeug@0.14.1",
    }


# GHSA-vv7r-c36w-3prj (Apache Commons FileUpload: DoS via part headers, CVE-2025-48976) as GitHub
# publishes it, trimmed to one package: its only severity is this CVSS v4.0 vector, whose base score
# FIRST's v4.0 calculator (and GitHub's page) gives as 8.7, High.
FILEUPLOAD_V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N"
FILEUPLOAD = {
    "schema_version": "1.4.0",
    "id": "GHSA-vv7r-c36w-3prj",
    "modified": "2025-06-17T14:50:29Z",
    "published": "2025-06-16T15:31:24Z",
    "aliases": ["CVE-2025-48976"],
    "summary": "Apache Commons FileUpload, Apache Commons FileUpload: FileUpload DoS via part headers",
    "affected": [
        {
            "package": {"ecosystem": "Maven", "name": "commons-fileupload:commons-fileupload"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.6.0"}]}],
        }
    ],
    "severity": [{"type": "CVSS_V4", "score": FILEUPLOAD_V4}],
    "database_specific": {"cwe_ids": ["CWE-770"], "github_reviewed": True},
}
POM = b"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.acme</groupId>
  <artifactId>uploads</artifactId>
  <version>1.0</version>
  <dependencies>
    <dependency>
      <groupId>commons-fileupload</groupId>
      <artifactId>commons-fileupload</artifactId>
      <version>1.5</version>
    </dependency>
  </dependencies>
</project>
"""


async def test_an_advisory_scored_by_cvss_v4_only_rates_its_finding(env: Env) -> None:
    """An advisory whose one severity is a CVSS_V4 vector (a real one: GHSA-vv7r-c36w-3prj's) gives its
    finding the spec's base score 8.7, rated high, method CVSS_V4, with the vector, in the list, the
    finding's detail and the high-and-above filter."""
    owner = await team(env)
    info = await import_archive(env, osv_archive(FILEUPLOAD), "vex-test")
    assert info["new"] == 1, info
    stored = await upload(env, owner, POM, "pom.xml")
    [finding] = stored["findings"]
    expected = {"rating": "high", "score": 8.7, "method": "CVSS_V4", "vector": FILEUPLOAD_V4}
    assert finding["advisory_id"] == "GHSA-vv7r-c36w-3prj"
    assert finding["severity"] == expected
    assert finding["path"] == ["file:pom.xml", "pkg:maven/commons-fileupload/commons-fileupload@1.5"]
    status, detail = await call(env, "GET", f"/api/v1/vulnerabilities/{finding['id']}", owner.headers)
    assert status == 200, detail
    assert detail["finding"]["severity"] == expected
    assert detail["finding"]["aliases"] == ["CVE-2025-48976"]
    status, high = await call(
        env, "GET", "/api/v1/vulnerabilities", owner.headers, params={"min_severity": "high"}
    )
    assert status == 200, high
    assert [f["id"] for f in high["items"]] == [finding["id"]]
    status, summary = await call(env, "GET", "/api/v1/supply-chain/summary", owner.headers)
    assert status == 200, summary
    assert summary["by_severity"]["high"] == 1


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def test_a_zip_of_advisories_imports_through_mno_and_its_findings_follow(
    env: Env, tmp_path: Path
) -> None:
    """`mno advisories import x.zip` sends a zip laid out as GitHub's advisory database is (records under
    advisories/github-reviewed/<year>/<month>/<id>/, a README and LICENSE beside them): both records are
    imported (the other files skipped), a stored SBOM naming one of them is re-scanned into its finding,
    the ledger records the import, and the same zip again changes nothing."""
    owner = await team(env)
    stored = await upload(env, owner, b"acme-zipped==1.0\n")
    assert stored["findings"] == []
    records = [
        advisory("GHSA-zzzz-0001-zip1", "acme-zipped", "1.1"),
        advisory("GHSA-zzzz-0002-zip2", "acme-other", "3.0"),
    ]
    archive = tmp_path / "advisory-database-main.zip"
    where = "advisory-database-main/advisories/github-reviewed/2030/01"
    members = {f"{where}/{r['id']}/{r['id']}.json": json.dumps(r).encode() for r in records}
    members["advisory-database-main/README.md"] = b"# GitHub Advisory Database\n"
    members["advisory-database-main/LICENSE.md"] = b"CC-BY-4.0\n"
    archive.write_bytes(zip_of(members))
    assert zipfile.is_zipfile(archive)
    auth = ["--url", env.base, "--token", TOKEN]
    imported = await asyncio.to_thread(mno, "advisories", "import", str(archive), *auth, "--json")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    info = json.loads(imported.stdout)
    assert (info["status"], info["source"], info["files"], info["new"], info["error_count"]) == (
        "finished",
        "advisory-database-main.zip",
        2,
        2,
        0,
    ), info
    assert (info["findings_changed"], info["sboms_rescanned"]) == (1, 1), info
    status, found = await call(
        env, "GET", "/api/v1/vulnerabilities", owner.headers, params={"sbom_id": stored["sbom"]["id"]}
    )
    assert status == 200, found
    assert [(f["advisory_id"], f["fixed_versions"]) for f in found["items"]] == [
        ("GHSA-zzzz-0001-zip1", ["1.1"])
    ]
    status, ledger = await call(env, "GET", "/api/v1/supply-chain/advisories", owner.headers)
    assert status == 200, ledger
    assert ledger["imports"][0]["id"] == info["id"]

    again = await asyncio.to_thread(mno, "advisories", "import", str(archive), *auth)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 files: 0 new, 0 modified, 0 withdrawn, 2 unchanged, 0 unreadable" in again.stdout


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
