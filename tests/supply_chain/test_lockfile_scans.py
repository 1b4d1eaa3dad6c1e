"""`mno scan` end to end for every lockfile format it reads, and SBOMs made by other tools: the real CLI
and the edge and the SupplyChainAgent as real processes (real NATS, PostgreSQL, blob store), each
ecosystem's advisories (npm, Go, Maven, crates.io) written here in OSV form and imported through the
operator route, as the PyPA snapshot is."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.mesh import TOKEN
from tests.supply_chain.mesh_support import Env, call, import_archive, mno, osv_archive, start, team

HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # 7.5
MEDIUM = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N"  # 5.9
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"  # 10.0


def advisory(
    advisory_id: str,
    ecosystem: str,
    name: str,
    introduced: str,
    fixed: str,
    range_type: str,
    vector: str | None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": "2030-01-01T00:00:00Z",
        "published": "2030-01-01T00:00:00Z",
        "summary": f"{name} mishandles hostile input",
        "aliases": [f"CVE-2099-{advisory_id[-4:]}"],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": range_type, "events": [{"introduced": introduced}, {"fixed": fixed}]}],
            }
        ],
    }
    if vector is not None:
        record["severity"] = [{"type": "CVSS_V3", "score": vector}]
    return record


ADVISORIES = [
    # npm: qs before 6.7.3, high; the lockfile and the CycloneDX SBOM hold 6.7.0 under express only.
    advisory("MNO-NPM-2099-0001", "npm", "qs", "6.7.0", "6.7.3", "SEMVER", HIGH),
    # Go: golang.org/x/crypto before 0.17.0 (as OSV writes Go versions, without the `v`), medium.
    advisory("MNO-GO-2099-0001", "Go", "golang.org/x/crypto", "0", "0.17.0", "SEMVER", MEDIUM),
    # Maven: log4j-core 2.0-beta9 up to 2.15.0, critical.
    advisory(
        "MNO-MAVEN-2099-0001",
        "Maven",
        "org.apache.logging.log4j:log4j-core",
        "2.0-beta9",
        "2.15.0",
        "ECOSYSTEM",
        CRITICAL,
    ),
    # crates.io: smallvec 0.6.3 up to 0.6.10, without a severity (as many RustSec advisories).
    advisory("MNO-RUST-2099-0001", "crates.io", "smallvec", "0.6.3", "0.6.10", "SEMVER", None),
]


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """The mesh, with one small advisory set per ecosystem imported."""
    async for running in start(tmp_path_factory.mktemp("lockfile-scans"), postgres_dsn):
        info = await import_archive(running, osv_archive(*ADVISORIES), "lockfile-scans")
        assert (info["status"], info["new"], info["error_count"]) == ("finished", 4, 0), info
        yield running


# --- the files, as the tools write them ---------------------------------------------------------------


def from_registry(name: str, version: str) -> dict[str, str]:
    """`resolved` and `integrity` as npm writes them for a package from the registry."""
    digest = hashlib.sha512(f"{name}-{version}.tgz".encode()).digest()
    return {
        "resolved": f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz",
        "integrity": "sha512-" + base64.b64encode(digest).decode(),
    }


PACKAGE_LOCK = {
    "name": "shop",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {
            "name": "shop",
            "version": "1.0.0",
            "license": "MIT",
            "dependencies": {"express": "^4.17.1"},
            "devDependencies": {"left-pad": "^1.3.0"},
        },
        "node_modules/body-parser": {
            "version": "1.19.0",
            **from_registry("body-parser", "1.19.0"),
            "dependencies": {"qs": "6.11.0"},
            "engines": {"node": ">= 0.8"},
        },
        "node_modules/express": {
            "version": "4.17.1",
            **from_registry("express", "4.17.1"),
            "dependencies": {"body-parser": "1.19.0", "qs": "6.7.0"},
            "engines": {"node": ">= 0.10.0"},
        },
        "node_modules/express/node_modules/qs": {
            "version": "6.7.0",
            **from_registry("qs", "6.7.0"),
            "engines": {"node": ">=0.6"},
        },
        "node_modules/left-pad": {
            "version": "1.3.0",
            **from_registry("left-pad", "1.3.0"),
            "dev": True,
        },
        "node_modules/qs": {
            "version": "6.11.0",
            **from_registry("qs", "6.11.0"),
            "engines": {"node": ">=0.6"},
        },
    },
}

GO_SUM = """\
github.com/gin-gonic/gin v1.9.1 h1:4idEAncQnU5cB7BeOkPtxjfCSye0AAm1R0RVIqJ+Jmg=
github.com/gin-gonic/gin v1.9.1/go.mod h1:hPrL7YrpYKXt5YId3A/Tnip5kqbEAP+KLuI3SUcPTeU=
golang.org/x/crypto v0.14.0/go.mod h1:MVFd36DqK4CsrnJYDkBA3VC4m2GkXAM0PvzMCn4JQf4=
golang.org/x/crypto v0.16.0 h1:mMMrFzRSCF0GvB7Ne27XVtVAaXLrPmgPC7/v0tkwHaY=
golang.org/x/crypto v0.16.0/go.mod h1:gCAAfMLgwOJRpTjQ2zCCt2OcSfYMTeZVSRtQlPC7Nq4=
golang.org/x/net v0.19.0 h1:zTwKpTd2XuCqf8huc7z4RkPZHWa2UIkGMuDk11PJ8a8=
golang.org/x/net v0.19.0/go.mod h1:CfAk/cbD4CthTvqiEl8NpboMuiuOYsAr/7NOjZJtv1U=
"""

# Declared ISO-8859-1, as many older POMs are, with a name outside ASCII.
POM = """\
<?xml version="1.0" encoding="ISO-8859-1"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.acme</groupId>
  <artifactId>orders</artifactId>
  <version>1.4.0</version>
  <packaging>jar</packaging>
  <developers>
    <developer><name>Jos\u00e9 Mu\u00f1oz</name></developer>
  </developers>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <log4j2.version>2.14.1</log4j2.version>
  </properties>
  <dependencies>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>${log4j2.version}</version>
    </dependency>
    <dependency>
      <groupId>com.google.guava</groupId>
      <artifactId>guava</artifactId>
      <version>32.1.3-jre</version>
    </dependency>
    <dependency>
      <groupId>org.junit.jupiter</groupId>
      <artifactId>junit-jupiter</artifactId>
      <version>5.10.1</version>
      <scope>test</scope>
    </dependency>
  </dependencies>
</project>
"""

CARGO_LOCK = """\
# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 3

[[package]]
name = "acme-cli"
version = "0.3.0"
dependencies = [
 "acme-core",
 "clap",
]

[[package]]
name = "acme-core"
version = "0.3.0"
dependencies = [
 "smallvec 1.11.0",
]

[[package]]
name = "clap"
version = "2.34.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "a0610544180c38b88101fecf2dd634b174a62eef6946f84dfc6a7127512b381c"
dependencies = [
 "smallvec 0.6.9",
]

[[package]]
name = "smallvec"
version = "0.6.9"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "c4488ae950c49d403731982257768f48fada354a5203fe81f9bb6f43ca9002be"

[[package]]
name = "smallvec"
version = "1.11.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "62bb4feee49fdd9f707ef802e22365a35de4b7b299de4763d44bfea899442ff9"
"""

FILES = {
    "package-lock.json": json.dumps(PACKAGE_LOCK, indent=2).encode(),
    "go.sum": GO_SUM.encode(),
    "pom.xml": POM.encode("iso-8859-1"),
    "Cargo.lock": CARGO_LOCK.encode(),
}


async def scan(env: Env, target: Path, *args: str) -> Any:
    """`mno scan TARGET ARGS` with a new team's key: the finished process."""
    owner = await team(env)
    return await asyncio.to_thread(mno, "scan", str(target), "--url", env.base, "--api-key", owner.key, *args)


def only_finding(answer: Any) -> dict[str, Any]:
    [result] = json.loads(answer.stdout)
    [finding] = result["findings"]
    assert isinstance(finding, dict)
    return finding


@pytest.mark.parametrize(
    ("filename", "advisory_id", "purl", "path", "rating", "passes_at"),
    [
        (
            "package-lock.json",
            "MNO-NPM-2099-0001",
            "pkg:npm/qs@6.7.0",
            ["file:package-lock.json", "pkg:npm/express@4.17.1", "pkg:npm/qs@6.7.0"],
            "high",
            "critical",
        ),
        (
            "go.sum",
            "MNO-GO-2099-0001",
            "pkg:golang/golang.org/x/crypto@v0.16.0",
            ["file:go.sum", "pkg:golang/golang.org/x/crypto@v0.16.0"],
            "medium",
            "high",
        ),
        (
            "pom.xml",
            "MNO-MAVEN-2099-0001",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            ["file:pom.xml", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"],
            "critical",
            None,
        ),
        (
            "Cargo.lock",
            "MNO-RUST-2099-0001",
            "pkg:cargo/smallvec@0.6.9",
            ["file:Cargo.lock", "pkg:cargo/clap@2.34.0", "pkg:cargo/smallvec@0.6.9"],
            None,
            None,
        ),
    ],
)
async def test_mno_scan_finds_each_lockfile_format_and_exits_by_severity(
    env: Env,
    tmp_path: Path,
    filename: str,
    advisory_id: str,
    purl: str,
    path: list[str],
    rating: str | None,
    passes_at: str | None,
) -> None:
    """Each format's finding comes with its path; exit 1 at/above --fail-on, 0 below, unrated fails."""
    lockfile = tmp_path / filename
    lockfile.write_bytes(FILES[filename])
    as_json = await scan(env, lockfile, "--json", "--fail-on", "low")
    assert as_json.returncode == 1, as_json.stdout + as_json.stderr
    finding = only_finding(as_json)
    assert (finding["advisory_id"], finding["purl"], finding["path"]) == (advisory_id, purl, path)
    assert finding["severity"]["rating"] == rating
    assert finding["sbom_id"] is None, "mno scan stores nothing"

    table = await scan(env, lockfile, "--fail-on", rating or "low")
    assert table.returncode == 1, table.stdout + table.stderr
    assert advisory_id in table.stdout
    assert (rating or "unrated") in table.stdout
    if passes_at is not None:
        below = await scan(env, lockfile, "--fail-on", passes_at)
        assert below.returncode == 0, below.stdout + below.stderr
    if rating is None:
        allowed = await scan(env, lockfile, "--fail-on", "low", "--allow-unrated")
        assert allowed.returncode == 0, allowed.stdout + allowed.stderr


async def test_mno_scan_of_a_directory_scans_every_lockfile_in_it(env: Env, tmp_path: Path) -> None:
    """`mno scan DIR` scans each lockfile in it (not node_modules'); the worst finding sets the exit."""
    project = tmp_path / "project"
    (project / "web").mkdir(parents=True)
    (project / "web" / "package-lock.json").write_bytes(FILES["package-lock.json"])
    for name in ("go.sum", "pom.xml", "Cargo.lock"):
        (project / name).write_bytes(FILES[name])
    vendored = project / "web" / "node_modules" / "express"
    vendored.mkdir(parents=True)
    (vendored / "package-lock.json").write_text("not even JSON")
    (project / "README.md").write_text("# orders\n")

    answer = await scan(env, project, "--json", "--allow-unrated")
    assert answer.returncode == 1, answer.stdout + answer.stderr
    results = json.loads(answer.stdout)
    by_file = {Path(r["file"]).relative_to(project).as_posix(): r for r in results}
    assert sorted(by_file) == ["Cargo.lock", "go.sum", "pom.xml", "web/package-lock.json"]
    assert {name: [f["advisory_id"] for f in r["findings"]] for name, r in by_file.items()} == {
        "Cargo.lock": ["MNO-RUST-2099-0001"],
        "go.sum": ["MNO-GO-2099-0001"],
        "pom.xml": ["MNO-MAVEN-2099-0001"],
        "web/package-lock.json": ["MNO-NPM-2099-0001"],
    }
    assert {name: r["input_format"] for name, r in by_file.items()} == {
        "Cargo.lock": "Cargo.lock",
        "go.sum": "go.sum",
        "pom.xml": "pom.xml",
        "web/package-lock.json": "package-lock.json",
    }
    # Only go.sum's medium finding is below high: the critical and high ones still fail the scan...
    table = await scan(env, project, "--fail-on", "critical", "--allow-unrated")
    assert table.returncode == 1, table.stdout + table.stderr
    assert "4 findings" in table.stdout
    # ...and with the critical Maven finding fixed, nothing reaches critical.
    (project / "pom.xml").write_bytes(POM.replace("2.14.1", "2.17.1").encode("iso-8859-1"))
    fixed = await scan(env, project, "--fail-on", "critical", "--allow-unrated")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "3 findings" in fixed.stdout


async def test_mno_advisories_import_of_a_directory_makes_its_advisories_matchable(
    env: Env, tmp_path: Path
) -> None:
    """`mno advisories import DIR` imports its JSON and YAML records, which scans then match."""
    records = tmp_path / "advisories"
    (records / "pypa").mkdir(parents=True)
    (records / "pypa" / "PYSEC-2099-0100.json").write_text(
        json.dumps(advisory("PYSEC-2099-0100", "PyPI", "acme-exporter", "0", "3.1", "ECOSYSTEM", MEDIUM))
    )
    (records / "PYSEC-2099-0101.yaml").write_text(
        "id: PYSEC-2099-0101\n"
        "modified: '2030-01-01T00:00:00Z'\n"
        "summary: acme-importer trusts hostile input\n"
        "affected:\n"
        "- package:\n"
        "    ecosystem: PyPI\n"
        "    name: acme-importer\n"
        "  ranges:\n"
        "  - type: ECOSYSTEM\n"
        "    events:\n"
        "    - introduced: '0'\n"
        "    - fixed: '2.0'\n"
        "severity:\n"
        f"- type: CVSS_V3\n  score: {CRITICAL}\n"
    )
    (records / "LICENSE").write_text("CC-BY-4.0\n")

    imported = await asyncio.to_thread(
        mno, "advisories", "import", str(records), "--url", env.base, "--token", TOKEN
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "2 files: 2 new, 0 modified, 0 withdrawn, 0 unchanged, 0 unreadable" in imported.stdout

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("acme-importer==1.0\nacme-exporter==3.0.2\nacme-other==1.0\n")
    found = await scan(env, requirements, "--json", "--fail-on", "critical")
    assert found.returncode == 1, found.stdout + found.stderr
    [result] = json.loads(found.stdout)
    assert {f["advisory_id"]: (f["severity"]["rating"], f["path"]) for f in result["findings"]} == {
        "PYSEC-2099-0101": ("critical", ["file:requirements.txt", "pkg:pypi/acme-importer@1.0"]),
        "PYSEC-2099-0100": ("medium", ["file:requirements.txt", "pkg:pypi/acme-exporter@3.0.2"]),
    }

    again = await asyncio.to_thread(
        mno, "advisories", "import", str(records), "--url", env.base, "--token", TOKEN, "--json"
    )
    assert again.returncode == 0, again.stderr
    info = json.loads(again.stdout)
    assert (info["source"], info["files"], info["new"], info["unchanged"]) == ("advisories", 2, 0, 2), info


# --- SBOMs made elsewhere ---------------------------------------------------------------------------

# As cdxgen writes a Node project's BOM: purls as bom-refs, the application as metadata.component,
# the dependency tree in `dependencies`.
CYCLONEDX = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
    "version": 1,
    "metadata": {
        "timestamp": "2024-05-02T09:14:11Z",
        "tools": {
            "components": [
                {"group": "@cyclonedx", "name": "cdxgen", "version": "10.5.1", "type": "application"}
            ]
        },
        "authors": [{"name": "OWASP Foundation"}],
        "lifecycles": [{"phase": "build"}],
        "component": {
            "name": "shop",
            "version": "1.0.0",
            "type": "application",
            "bom-ref": "pkg:npm/shop@1.0.0",
            "purl": "pkg:npm/shop@1.0.0",
        },
    },
    "components": [
        {
            "name": "express",
            "version": "4.17.1",
            "description": "Fast, unopinionated, minimalist web framework",
            "scope": "required",
            "hashes": [
                {
                    "alg": "SHA-512",
                    "content": hashlib.sha512(b"express-4.17.1.tgz").hexdigest(),
                }
            ],
            "licenses": [{"license": {"id": "MIT"}}],
            "purl": "pkg:npm/express@4.17.1",
            "type": "library",
            "bom-ref": "pkg:npm/express@4.17.1",
            "properties": [{"name": "SrcFile", "value": "package-lock.json"}],
        },
        {
            "name": "body-parser",
            "version": "1.19.0",
            "scope": "required",
            "licenses": [{"license": {"id": "MIT"}}],
            "purl": "pkg:npm/body-parser@1.19.0",
            "type": "library",
            "bom-ref": "pkg:npm/body-parser@1.19.0",
        },
        {
            "name": "qs",
            "version": "6.7.0",
            "scope": "required",
            "licenses": [{"license": {"id": "BSD-3-Clause"}}],
            "purl": "pkg:npm/qs@6.7.0",
            "type": "library",
            "bom-ref": "pkg:npm/qs@6.7.0",
            "properties": [{"name": "ResolvedUrl", "value": "https://registry.npmjs.org/qs/-/qs-6.7.0.tgz"}],
        },
        {
            "name": "qs",
            "version": "6.11.0",
            "scope": "required",
            "licenses": [{"license": {"id": "BSD-3-Clause"}}],
            "purl": "pkg:npm/qs@6.11.0",
            "type": "library",
            "bom-ref": "pkg:npm/qs@6.11.0",
        },
    ],
    "dependencies": [
        {"ref": "pkg:npm/shop@1.0.0", "dependsOn": ["pkg:npm/express@4.17.1"]},
        {"ref": "pkg:npm/express@4.17.1", "dependsOn": ["pkg:npm/body-parser@1.19.0", "pkg:npm/qs@6.7.0"]},
        {"ref": "pkg:npm/body-parser@1.19.0", "dependsOn": ["pkg:npm/qs@6.11.0"]},
        {"ref": "pkg:npm/qs@6.7.0", "dependsOn": []},
        {"ref": "pkg:npm/qs@6.11.0", "dependsOn": []},
    ],
}


def _spdx_package(spdx_id: str, name: str, version: str, purl: str | None, license_id: str) -> dict[str, Any]:
    package: dict[str, Any] = {
        "name": name,
        "SPDXID": spdx_id,
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": license_id,
        "copyrightText": "NOASSERTION",
        "supplier": "NOASSERTION",
    }
    if purl is not None:
        package["externalRefs"] = [
            {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}
        ]
    return package


# As Microsoft's sbom-tool writes a Maven project's SPDX 2.2: a root package the document describes,
# DEPENDS_ON from it to the direct dependencies and from each to its own.
SPDX = {
    "spdxVersion": "SPDX-2.2",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "orders 1.4.0",
    "documentNamespace": "https://sbom.acme.example/orders/1.4.0/8d3f0b52-1c7e-4b7a-9f0e-2f1f7c1e9a11",
    "creationInfo": {
        "created": "2024-05-02T09:14:11Z",
        "creators": ["Organization: Acme", "Tool: Microsoft.SBOMTool-2.2.7"],
    },
    "documentDescribes": ["SPDXRef-RootPackage"],
    "packages": [
        _spdx_package("SPDXRef-RootPackage", "orders", "1.4.0", None, "NOASSERTION"),
        _spdx_package(
            "SPDXRef-Package-5B3C1E0A",
            "org.springframework.boot:spring-boot-starter-log4j2",
            "2.6.1",
            "pkg:maven/org.springframework.boot/spring-boot-starter-log4j2@2.6.1",
            "Apache-2.0",
        ),
        _spdx_package(
            "SPDXRef-Package-0F9D7C2B",
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            "Apache-2.0",
        ),
        _spdx_package(
            "SPDXRef-Package-8E21A4F6",
            "org.apache.logging.log4j:log4j-api",
            "2.14.1",
            "pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1",
            "Apache-2.0",
        ),
        _spdx_package(
            "SPDXRef-Package-77AB01C3",
            "com.google.guava:guava",
            "32.1.3-jre",
            "pkg:maven/com.google.guava/guava@32.1.3-jre",
            "Apache-2.0",
        ),
    ],
    "relationships": [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-RootPackage",
        },
        {
            "spdxElementId": "SPDXRef-RootPackage",
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": "SPDXRef-Package-5B3C1E0A",
        },
        {
            "spdxElementId": "SPDXRef-RootPackage",
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": "SPDXRef-Package-77AB01C3",
        },
        {
            "spdxElementId": "SPDXRef-Package-5B3C1E0A",
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": "SPDXRef-Package-0F9D7C2B",
        },
        {
            "spdxElementId": "SPDXRef-Package-0F9D7C2B",
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": "SPDXRef-Package-8E21A4F6",
        },
    ],
}


@pytest.mark.parametrize(
    ("document", "filename", "input_format", "path"),
    [
        (
            CYCLONEDX,
            "bom.json",
            "cyclonedx",
            ["pkg:npm/shop@1.0.0", "pkg:npm/express@4.17.1", "pkg:npm/qs@6.7.0"],
        ),
        (
            SPDX,
            "orders.spdx.json",
            "spdx",
            [
                "SPDXRef-RootPackage",
                "pkg:maven/org.springframework.boot/spring-boot-starter-log4j2@2.6.1",
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            ],
        ),
    ],
)
async def test_an_sbom_made_by_another_tool_gets_its_transitive_finding_and_path(
    env: Env, document: dict[str, Any], filename: str, input_format: str, path: list[str]
) -> None:
    """An uploaded third-party CycloneDX or SPDX SBOM gets its transitive finding, path via its parent."""
    owner = await team(env)
    status, answer = await call(
        env,
        "POST",
        "/api/v1/sboms",
        owner.headers,
        body=json.dumps(document).encode(),
        params={"filename": filename},
    )
    assert status == 201, answer
    assert answer["input_format"] == input_format
    assert answer["components"] == 4
    [finding] = answer["findings"]
    assert finding["path"] == path
    assert finding["purl"] == path[-1]
    assert finding["sbom_id"] == answer["sbom"]["id"]
    status, listed = await call(
        env, "GET", "/api/v1/vulnerabilities", owner.headers, params={"sbom_id": answer["sbom"]["id"]}
    )
    assert status == 200, listed
    assert [f["path"] for f in listed["items"]] == [path]
