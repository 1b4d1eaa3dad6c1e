"""npm-shrinkwrap.json in published npm tarballs: read from the tarball through the safe archive
inspection (lockfileVersion 1, 2 and 3 alike), its resolved versions and nested `node_modules` turned
into the version's SBOM (CycloneDX and SPDX name the resolved versions, as a pinned requirement
does), matched against advisories with their paths; end to end, a tarball published with the real
npm client gets an SBOM whose transitive component, installed only through the shrinkwrap, has its
finding and path."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.supply_chain.index import AdvisoryIndex
from services.supply_chain.lockfiles.model import LockfileError
from services.supply_chain.sbom.cyclonedx import REQUIREMENT_PROPERTY, to_cyclonedx, validate_cyclonedx
from services.supply_chain.sbom.graph import (
    ArtifactVersion,
    ComponentGraph,
    DeclaredDependency,
    DependencyKind,
    from_artifact,
)
from services.supply_chain.sbom.spdx import REQUIREMENT_PREFIX, read_spdx, to_spdx
from services.supply_chain.scanning import match, scannable
from services.supply_chain.shrinkwrap import locked_dependencies, shrinkwrap_of
from shared.archives import DEFAULT_LIMITS, ArchiveLimits, UnsafeArchive
from tests.registry.npmpackages import NPM, npm, package_tarball, tarball, write_npmrc, write_package
from tests.supply_chain.mesh_support import REGISTRY_MESH, Env, call, import_archive, osv_archive, start, team
from tests.supply_chain.records import events, record

CREATED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ROOT = "pkg:npm/acme-app@1.0.0"

# One install, as each lockfile version records it: express ^4.17.0 resolves to 4.17.1, which gets
# its own qs 6.5.2 nested in its node_modules; body-parser (hoisted) uses the top qs 6.11.0; jest is
# a dev dependency; `left` is an alias of left-pad; `forked` comes from git.
V3_PACKAGES: dict[str, Any] = {
    "": {
        "name": "acme-app",
        "version": "1.0.0",
        "dependencies": {"express": "^4.17.0", "left": "npm:left-pad@1.3.0", "forked": "github:a/f"},
        "devDependencies": {"jest": "^29.0.0"},
    },
    "node_modules/express": {
        "version": "4.17.1",
        "resolved": "https://registry.npmjs.org/express/-/express-4.17.1.tgz",
        "dependencies": {"body-parser": "1.19.0", "qs": "6.5.2"},
    },
    "node_modules/express/node_modules/qs": {"version": "6.5.2"},
    "node_modules/body-parser": {"version": "1.19.0", "dependencies": {"qs": "^6.11.0"}},
    "node_modules/qs": {"version": "6.11.0"},
    "node_modules/left": {"name": "left-pad", "version": "1.3.0"},
    "node_modules/forked": {"version": "1.0.0", "resolved": "git+ssh://git@github.com/a/f.git#abc"},
    "node_modules/jest": {"version": "29.0.0", "dev": True},
}
V1_DEPENDENCIES: dict[str, Any] = {
    "express": {
        "version": "4.17.1",
        "resolved": "https://registry.npmjs.org/express/-/express-4.17.1.tgz",
        "requires": {"body-parser": "1.19.0", "qs": "6.5.2"},
        "dependencies": {"qs": {"version": "6.5.2"}},
    },
    "body-parser": {"version": "1.19.0", "requires": {"qs": "^6.11.0"}},
    "qs": {"version": "6.11.0"},
    "left": {"version": "npm:left-pad@1.3.0"},
    "forked": {"version": "git+ssh://git@github.com/a/f.git#abc", "from": "github:a/f"},
    "jest": {"version": "29.0.0", "dev": True},
}
DECLARED = (
    DeclaredDependency("express", "^4.17.0"),
    DeclaredDependency("forked", "github:a/f"),
    DeclaredDependency("jest", "^29.0.0", DependencyKind.DEV),
    DeclaredDependency("left", "npm:left-pad@1.3.0"),
)


def shrinkwrap(version: int) -> bytes:
    if version == 1:
        document = {"name": "acme-app", "version": "1.0.0", "lockfileVersion": 1, "requires": True}
        document["dependencies"] = V1_DEPENDENCIES
    else:
        document = {"name": "acme-app", "version": "1.0.0", "lockfileVersion": version}
        document["packages"] = V3_PACKAGES
        if version == 2:
            document["dependencies"] = V1_DEPENDENCIES  # v2 carries both; the packages map is read
    return json.dumps(document).encode()


def shrinkwrapped(version: int, name: str = "acme-app") -> bytes:
    return package_tarball(name, "1.0.0", **{"package/npm-shrinkwrap.json": shrinkwrap(version)})


def sbom_graph(tgz: bytes, limits: ArchiveLimits = DEFAULT_LIMITS) -> ComponentGraph:
    declared = {d.name: d.requirement for d in DECLARED}
    locked = locked_dependencies(io.BytesIO(tgz), limits, declared)
    files = (("acme-app-1.0.0.tgz", "0" * 64),)
    artifact = ArtifactVersion("npm", "acme-app", "1.0.0", DECLARED, files=files)
    return from_artifact(artifact, locked)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_shrinkwrap_in_the_tarball_resolves_every_installed_version_with_its_path(version: int) -> None:
    """lockfileVersion 1, 2 and 3 give one graph: direct dependencies at their resolved versions, nested
    node_modules under the package that installs them, the alias by its real name, git left out."""
    g = sbom_graph(shrinkwrapped(version))
    paths = {c.ref: c.path for c in g.components}
    assert paths["pkg:npm/express@4.17.1"] == (ROOT, "pkg:npm/express@4.17.1")
    assert paths["pkg:npm/qs@6.5.2"] == (ROOT, "pkg:npm/express@4.17.1", "pkg:npm/qs@6.5.2")
    assert paths["pkg:npm/qs@6.11.0"] == (
        ROOT,
        "pkg:npm/express@4.17.1",
        "pkg:npm/body-parser@1.19.0",
        "pkg:npm/qs@6.11.0",
    )
    assert paths["pkg:npm/left-pad@1.3.0"] == (ROOT, "pkg:npm/left-pad@1.3.0")
    by_ref = {c.ref: c for c in g.components}
    express = by_ref["pkg:npm/express@4.17.1"]
    assert (express.version, express.requirement) == ("4.17.1", None)
    assert by_ref["pkg:npm/jest@29.0.0"].kind is DependencyKind.DEV
    assert by_ref["pkg:npm/qs@6.5.2"].kind is DependencyKind.RUNTIME
    # The git dependency has no registry version: it stays its declaration, unscanned.
    assert by_ref["pkg:npm/forked github:a/f"].version is None
    assert ("npm", "qs", "6.5.2") in {(e, n, v) for e, n, v in g.scan_targets()}


def test_resolved_versions_are_pinned_in_both_documents() -> None:
    """CycloneDX and SPDX name each resolved dependency by version and purl, as a pinned requirement is,
    with no requirement property or comment; the range of a dependency that resolved nowhere stays."""
    g = sbom_graph(shrinkwrapped(3))
    cyclonedx = to_cyclonedx(g, created=CREATED, tool_version="0.1.0")
    validate_cyclonedx(cyclonedx, "1.6")
    components = {c["bom-ref"]: c for c in json.loads(cyclonedx)["components"]}
    qs = components["pkg:npm/qs@6.5.2"]
    assert (qs["version"], qs["purl"]) == ("6.5.2", "pkg:npm/qs@6.5.2")
    assert REQUIREMENT_PROPERTY not in {p["name"] for p in components["pkg:npm/express@4.17.1"]["properties"]}
    forked = components["pkg:npm/forked github:a/f"]
    assert {p["name"]: p["value"] for p in forked["properties"]}[REQUIREMENT_PROPERTY] == "github:a/f"
    dependencies = {d["ref"]: d.get("dependsOn", []) for d in json.loads(cyclonedx)["dependencies"]}
    assert dependencies["pkg:npm/express@4.17.1"] == ["pkg:npm/body-parser@1.19.0", "pkg:npm/qs@6.5.2"]

    spdx = to_spdx(g, created=CREATED, tool_version="0.1.0")
    document = json.loads(spdx)
    versions = {p["name"]: p.get("versionInfo") for p in document["packages"]}
    assert versions["express"] == "4.17.1"
    comments = {r.get("comment") for r in document["relationships"]}
    assert f"{REQUIREMENT_PREFIX}github:a/f" in comments
    assert f"{REQUIREMENT_PREFIX}^4.17.0" not in comments
    assert read_spdx(spdx).components == g.components


def test_findings_match_the_resolved_transitive_version_through_its_path() -> None:
    """An advisory on qs < 6.5.3 finds the qs nested under express, with its path; the hoisted 6.11.0
    and the declared range of express are no finding."""
    index = AdvisoryIndex()
    index.add(record("npm", "qs", [events("SEMVER", ("introduced", "0"), ("fixed", "6.5.3"))], id="MNO-QS-1"))
    found = match(index, scannable(sbom_graph(shrinkwrapped(1))))
    assert [(f.advisory_id, f.component.purl, f.component.path) for f in found] == [
        ("MNO-QS-1", "pkg:npm/qs@6.5.2", (ROOT, "pkg:npm/express@4.17.1", "pkg:npm/qs@6.5.2"))
    ]


def test_a_tarball_without_a_shrinkwrap_keeps_the_declared_dependencies() -> None:
    """No npm-shrinkwrap.json (a package-lock.json is never one): None, and the SBOM is the declarations'."""
    plain = package_tarball("acme-app", "1.0.0", **{"package/package-lock.json": shrinkwrap(3)})
    assert shrinkwrap_of(io.BytesIO(plain), DEFAULT_LIMITS) is None
    g = sbom_graph(plain)
    assert {c.ref for c in g.components} == {
        "pkg:npm/express ^4.17.0",
        "pkg:npm/forked github:a/f",
        "pkg:npm/jest ^29.0.0",
        "pkg:npm/left npm:left-pad@1.3.0",
    }


def test_a_shrinkwrap_under_another_top_folder_is_found_as_the_registry_finds_package_json() -> None:
    """A tarball packed with one top folder other than `package/` has its shrinkwrap read there."""
    other = tarball(
        {
            "acme/package.json": json.dumps({"name": "acme-app", "version": "1.0.0"}).encode(),
            "acme/npm-shrinkwrap.json": shrinkwrap(3),
            "acme/lib/npm-shrinkwrap.json": b"{}",  # not beside package.json: not the project's
        }
    )
    assert shrinkwrap_of(io.BytesIO(other), DEFAULT_LIMITS) == shrinkwrap(3)


def test_unsafe_tarballs_and_oversized_shrinkwraps_are_refused_by_the_archive_limits() -> None:
    """A link in the tarball, or a shrinkwrap past the limits it is read under, is a refusal (the
    service then keeps the declarations), never a partial read; an unreadable shrinkwrap a LockfileError."""
    linked = tarball({"package/package.json": b"{}"}, symlinks={"package/npm-shrinkwrap.json": "/etc/passwd"})
    with pytest.raises(UnsafeArchive):
        shrinkwrap_of(io.BytesIO(linked), DEFAULT_LIMITS)
    tight = ArchiveLimits(max_member_bytes=100)
    with pytest.raises(UnsafeArchive):
        shrinkwrap_of(io.BytesIO(shrinkwrapped(3)), tight)
    broken = package_tarball("acme-app", "1.0.0", **{"package/npm-shrinkwrap.json": b"{not json"})
    with pytest.raises(LockfileError, match=r"npm-shrinkwrap\.json: not JSON"):
        locked_dependencies(io.BytesIO(broken), DEFAULT_LIMITS, {})


# --- end to end --------------------------------------------------------------------------------------

QS_ADVISORY = {
    "schema_version": "1.6.0",
    "id": "MNO-SHRINKWRAP-1",
    "modified": "2030-01-01T00:00:00Z",
    "summary": "qs lets prototypes be polluted",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "qs"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "6.5.3"}]}],
        }
    ],
}


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """Edge, registry and supply chain of the module's own, with the qs advisory imported."""
    async for running in start(tmp_path_factory.mktemp("shrinkwrap"), postgres_dsn, agents=REGISTRY_MESH):
        info = await import_archive(running, osv_archive(QS_ADVISORY), "shrinkwrap-test")
        assert info["status"] == "finished", info
        yield running


async def _artifact_sbom(env: Env, headers: dict[str, str], name: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        status, sboms = await call(
            env, "GET", "/api/v1/sboms", headers, params={"source": "artifact", "subject_name": name}
        )
        assert status == 200, sboms
        if sboms["items"]:
            [sbom] = sboms["items"]
            assert isinstance(sbom, dict)
            return sbom
        assert asyncio.get_running_loop().time() < deadline, f"no SBOM of {name} in 120 s"
        await asyncio.sleep(0.3)


@pytest.mark.skipif(NPM is None, reason="the npm client is not installed")
async def test_npm_publish_with_a_shrinkwrap_finds_the_resolved_transitive_component(
    env: Env, tmp_path: Path
) -> None:
    """Real `npm publish` of a package whose npm-shrinkwrap.json (v1) pins express 4.17.1 and its nested
    qs 6.5.2: the version's SBOM lists qs 6.5.2, its finding names the path root > express > qs, and
    both documents carry the resolved versions."""
    owner = await team(env)
    folder = write_package(tmp_path, "acme-shrunk", "1.0.0", dependencies={"express": "^4.17.0"})
    document = json.loads(shrinkwrap(1))
    document["name"] = "acme-shrunk"
    (folder / "npm-shrinkwrap.json").write_text(json.dumps(document))
    rc = write_npmrc(tmp_path, env.base, owner.team_id, owner.key)
    published = await asyncio.to_thread(npm, ["publish"], folder, rc)
    assert published.returncode == 0, published.stderr
    with tarfile.open(fileobj=io.BytesIO(_packed(tmp_path, folder, rc))) as packed:
        assert "package/npm-shrinkwrap.json" in packed.getnames()  # npm did publish it

    sbom = await _artifact_sbom(env, owner.headers, "acme-shrunk")
    status, findings = await call(
        env, "GET", "/api/v1/vulnerabilities", owner.headers, params={"sbom_id": sbom["id"]}
    )
    assert status == 200, findings
    [finding] = findings["items"]
    assert (finding["advisory_id"], finding["purl"]) == ("MNO-SHRINKWRAP-1", "pkg:npm/qs@6.5.2")
    assert finding["path"] == ["pkg:npm/acme-shrunk@1.0.0", "pkg:npm/express@4.17.1", "pkg:npm/qs@6.5.2"]
    status, cyclonedx = await call(
        env, "GET", f"/api/v1/sboms/{sbom['id']}/document", owner.headers, params={"format": "cyclonedx"}
    )
    assert status == 200, cyclonedx
    assert {c["purl"] for c in cyclonedx["components"]} >= {
        "pkg:npm/express@4.17.1",
        "pkg:npm/body-parser@1.19.0",
        "pkg:npm/qs@6.5.2",
        "pkg:npm/qs@6.11.0",
    }
    status, spdx = await call(
        env, "GET", f"/api/v1/sboms/{sbom['id']}/document", owner.headers, params={"format": "spdx"}
    )
    assert status == 200, spdx
    assert ("qs", "6.5.2") in {(p["name"], p.get("versionInfo")) for p in spdx["packages"]}


def _packed(tmp_path: Path, folder: Path, rc: Path) -> bytes:
    """The tarball `npm pack` makes of the folder: what `npm publish` sent."""
    out = tmp_path / "packed"
    out.mkdir(exist_ok=True)
    result = npm(["pack", "--pack-destination", str(out)], folder, rc)
    assert result.returncode == 0, result.stderr
    [made] = list(out.glob("*.tgz"))
    return made.read_bytes()
