"""The npm registry end to end: the real npm CLI (publish, install, view, dist-tag, deprecate,
unpublish, search, whoami, ping) against the session's mesh (every agent a real process, real NATS
and PostgreSQL, blobs on the filesystem), each npm run with its own `.npmrc` in a temporary folder;
and one publish and install with blobs in moto's S3."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.messages.artifacts import NPM_DOCUMENT_MAX_CHARS
from tests.fixtures.mesh import Mesh
from tests.fixtures.s3 import S3Endpoint
from tests.registry.meshes import s3_registry_mesh
from tests.registry.npmpackages import (
    NPM,
    npm,
    package_tarball,
    publish_document,
    put_document,
    registry_url,
    write_npmrc,
    write_package,
)
from tests.registry.test_python_registry import Team, _team

pytestmark = pytest.mark.skipif(NPM is None, reason="npm is not installed")


def _rc(folder: Path, mesh: Mesh, team: Team, key: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_npmrc(folder, mesh.edge_url, team.team_id, key or team.key)


def _publish(mesh: Mesh, team: Team, work: Path, name: str, version: str, **extra: Any) -> None:
    folder = write_package(work, name, version, **extra)
    result = npm(["publish"], folder, _rc(work / "rc-publisher", mesh, team))
    assert result.returncode == 0, result.stdout + result.stderr


def _consumer(work: Path, dependencies: dict[str, str]) -> Path:
    folder = work / f"app-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "package.json").write_text(
        json.dumps({"name": "consumer", "version": "1.0.0", "private": True, "dependencies": dependencies})
    )
    return folder


def _installed(folder: Path, name: str) -> str:
    manifest = json.loads((folder / "node_modules" / name / "package.json").read_text())
    return str(manifest["version"])


async def _rows(pool: Any, team_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT filename FROM artifact_manager.files WHERE team_id = $1::uuid ORDER BY filename", team_id
        )
    return [r["filename"] for r in rows]


def _blob_files(mesh: Mesh) -> set[str]:
    root = Path(mesh.launcher.workdir / "data" / "blobs")
    return {p.name for p in (root / "sha256").rglob("*") if p.is_file()} if root.exists() else set()


async def test_npm_publishes_and_installs_plain_and_scoped_packages(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """npm publish of a plain and a scoped package (the scoped one depending on the plain one); npm
    install into a fresh folder with a read-only key resolves both from the team's registry; npm view
    shows the version, its integrity and the tarball URL; the abbreviated packument is served by Accept."""
    team = await _team(pool)
    _publish(mesh, team, tmp_path, "acme-left", "1.0.0")
    _publish(mesh, team, tmp_path, "@acme/app-core", "0.2.0", dependencies={"acme-left": "^1.0.0"})
    app = _consumer(tmp_path, {"@acme/app-core": "^0.2.0"})
    installed = npm(["install"], app, _rc(tmp_path / "rc-ci", mesh, team, team.read_key))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert _installed(app, "@acme/app-core") == "0.2.0"
    assert _installed(app, "acme-left") == "1.0.0"
    lock = json.loads((app / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/@acme/app-core"]
    assert (
        entry["resolved"] == registry_url(mesh.edge_url, team.team_id) + "@acme/app-core/-/app-core-0.2.0.tgz"
    )
    assert entry["integrity"].startswith("sha512-")

    view = npm(["view", "@acme/app-core", "--json"], app, _rc(tmp_path / "rc-ci", mesh, team, team.read_key))
    assert view.returncode == 0, view.stderr
    shown = json.loads(view.stdout)
    assert shown["version"] == "0.2.0"
    assert shown["dist"]["integrity"] == entry["integrity"]
    assert shown["dependencies"] == {"acme-left": "^1.0.0"}
    assert shown["dist-tags"] == {"latest": "0.2.0"}

    base = registry_url(mesh.edge_url, team.team_id)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.read_key}"}) as http:
        async with http.get(
            base + "@acme%2fapp-core", headers={"Accept": "application/vnd.npm.install-v1+json"}
        ) as response:
            assert response.status == 200
            assert response.content_type == "application/vnd.npm.install-v1+json"
            abbreviated = await response.json(content_type=None)
        async with http.get(base + "@acme/app-core") as response:
            full = await response.json()
        tarball_url = full["versions"]["0.2.0"]["dist"]["tarball"]
        async with http.get(tarball_url) as response:
            content = await response.read()
            etag = response.headers["ETag"]
        async with http.get(tarball_url, headers={"Range": "bytes=0-9"}) as response:
            assert response.status == 206
            assert await response.read() == content[:10]
        async with http.get(tarball_url, headers={"If-None-Match": etag}) as response:
            assert response.status == 304
    assert set(abbreviated) == {"name", "modified", "dist-tags", "versions"}
    assert "readme" not in abbreviated["versions"]["0.2.0"]
    assert full["readme"].startswith("# @acme/app-core")
    assert etag == f'"{hashlib.sha256(content).hexdigest()}"'
    async with pool.acquire() as conn:
        actions = await conn.fetch(
            "SELECT action, resource_id FROM super_agent.audit_entries WHERE team_id = $1::uuid ORDER BY seq",
            team.team_id,
        )
    assert [a["resource_id"] for a in actions if a["action"] == "artifacts.publish"] == [
        "npm:acme-left@1.0.0/acme-left-1.0.0.tgz",
        "npm:@acme/app-core@0.2.0/@acme/app-core-0.2.0.tgz",
    ]


async def test_dist_tags_move_what_npm_installs(mesh: Mesh, pool: Any, tmp_path: Path) -> None:
    """npm dist-tag add/ls/rm: a `beta` tag on 2.0.0-beta.1 installs by tag; latest stays 1.1.0;
    `latest` cannot be removed; after rm the tag is gone from ls and from installs."""
    team = await _team(pool)
    _publish(mesh, team, tmp_path, "acme-tagged", "1.1.0")
    folder = write_package(tmp_path, "acme-tagged", "2.0.0-beta.1")
    rc = _rc(tmp_path / "rc-publisher", mesh, team)
    assert npm(["publish", "--tag", "next"], folder, rc).returncode == 0
    added = npm(["dist-tag", "add", "acme-tagged@2.0.0-beta.1", "beta"], tmp_path, rc)
    assert added.returncode == 0, added.stderr
    listed = npm(["dist-tag", "ls", "acme-tagged"], tmp_path, rc)
    assert sorted(listed.stdout.splitlines()) == ["beta: 2.0.0-beta.1", "latest: 1.1.0", "next: 2.0.0-beta.1"]
    app = _consumer(tmp_path, {"acme-tagged": "beta"})
    assert npm(["install"], app, rc).returncode == 0
    assert _installed(app, "acme-tagged") == "2.0.0-beta.1"
    plain = _consumer(tmp_path, {"acme-tagged": "*"})
    assert npm(["install"], plain, rc).returncode == 0
    assert _installed(plain, "acme-tagged") == "1.1.0"
    refused = npm(["dist-tag", "rm", "acme-tagged", "latest"], tmp_path, rc)
    assert refused.returncode != 0
    assert "protected_tag" in refused.stderr
    assert npm(["dist-tag", "rm", "acme-tagged", "beta"], tmp_path, rc).returncode == 0
    listed = npm(["dist-tag", "ls", "acme-tagged"], tmp_path, rc)
    assert sorted(listed.stdout.splitlines()) == ["latest: 1.1.0", "next: 2.0.0-beta.1"]
    gone = npm(["install", "acme-tagged@beta"], _consumer(tmp_path, {}), rc)
    assert gone.returncode != 0


async def test_deprecate_warns_at_install_and_view_search_whoami_ping_answer(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """npm deprecate marks 1.0.0 (npm install prints the message; the REST API shows it), an empty
    message lifts it; npm search finds the package by keyword; npm whoami names the key; npm ping works."""
    team = await _team(pool)
    _publish(mesh, team, tmp_path, "acme-old", "1.0.0", keywords=("legacy-widget",))
    rc = _rc(tmp_path / "rc-publisher", mesh, team)
    deprecated = npm(["deprecate", "acme-old@1.0.0", "use acme-new instead"], tmp_path, rc)
    assert deprecated.returncode == 0, deprecated.stderr
    app = _consumer(tmp_path, {"acme-old": "1.0.0"})
    installed = npm(["install"], app, rc)
    assert installed.returncode == 0
    assert "use acme-new instead" in installed.stderr
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        async with http.get(f"{mesh.edge_url}/api/v1/registry/packages/npm/acme-old/versions/1.0.0") as r:
            assert (await r.json())["deprecated"] == "use acme-new instead"
    assert npm(["deprecate", "acme-old@1.0.0", ""], tmp_path, rc).returncode == 0
    view = npm(["view", "acme-old", "deprecated"], tmp_path, rc)
    assert view.stdout.strip() == ""

    found = npm(["search", "legacy-widget", "--json"], tmp_path, rc)
    assert found.returncode == 0, found.stderr
    assert [p["name"] for p in json.loads(found.stdout)] == ["acme-old"]
    who = npm(["whoami"], tmp_path, rc)
    assert who.returncode == 0, who.stderr
    assert who.stdout.strip()
    assert npm(["ping"], tmp_path, rc).returncode == 0
    async with pool.acquire() as conn:
        actions = {
            r["action"]
            for r in await conn.fetch(
                "SELECT action FROM super_agent.audit_entries WHERE team_id = $1::uuid", team.team_id
            )
        }
    assert "artifacts.deprecate" in actions
    async with pool.acquire() as conn:
        kinds = await conn.fetchrow(
            """
            SELECT jsonb_typeof(v.metadata) AS metadata, jsonb_typeof(f.digests) AS digests,
                   jsonb_typeof(n.manifest) AS manifest, jsonb_typeof(p.dist_tags) AS dist_tags
            FROM artifact_manager.versions v
            JOIN artifact_manager.files f ON f.version_id = v.id
            JOIN artifact_manager.npm_versions n ON n.version_id = v.id
            JOIN artifact_manager.npm_packages p ON p.package_id = v.package_id
            WHERE v.team_id = $1::uuid
            """,
            team.team_id,
        )
    # JSON columns hold objects (SQL can read into them), not JSON text inside a jsonb string.
    assert dict(kinds) == dict.fromkeys(("metadata", "digests", "manifest", "dist_tags"), "object")


async def test_deprecate_and_unpublish_a_version_of_a_package_with_300_versions(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """npm deprecate and npm unpublish name@version of a package whose packument passes
    NPM_DOCUMENT_MAX_CHARS succeed: the edge sends the agent only what the operation reads."""
    team = await _team(pool)
    name = "acme-many"
    versions = [f"1.0.{patch}" for patch in range(300)]
    manifest = {"description": "a package of many versions " * 40, "license": "MIT"}

    async def seed(chunk: list[str]) -> None:
        for version in chunk:
            document = publish_document(name, version, package_tarball(name, version), **manifest)
            status, body = await put_document(mesh.edge_url, team.team_id, team.key, name, document)
            assert status == 201, body

    await asyncio.gather(*(seed(versions[i::4]) for i in range(4)))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        async with http.get(registry_url(mesh.edge_url, team.team_id) + name) as response:
            assert response.status == 200
            assert len(await response.text()) > NPM_DOCUMENT_MAX_CHARS  # the whole packument would 413
    rc = _rc(tmp_path / "rc-publisher", mesh, team)
    deprecated = npm(["deprecate", f"{name}@1.0.7", "use 1.0.8"], tmp_path, rc)
    assert deprecated.returncode == 0, deprecated.stdout + deprecated.stderr
    removed = npm(["unpublish", f"{name}@1.0.299"], tmp_path, rc)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        api = f"{mesh.edge_url}/api/v1/registry/packages/npm/{name}"
        async with http.get(f"{api}/versions/1.0.7") as response:
            assert (await response.json())["deprecated"] == "use 1.0.8"
        async with http.get(f"{api}/versions/1.0.8") as response:
            assert (await response.json())["deprecated"] is None
        async with http.get(api) as response:
            listed = await response.json()
    assert len(listed["versions"]) == 299
    assert listed["package"]["latest"] == "1.0.298"


async def test_unpublish_within_the_policy_and_refused_outside_it(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """npm unpublish of a fresh version removes it and its tarball (latest moves back); a package
    another package depends on is refused with unpublish_refused; after a forced whole unpublish the
    package is gone and its version number cannot be published again."""
    team = await _team(pool)
    rc = _rc(tmp_path / "rc-publisher", mesh, team)
    _publish(mesh, team, tmp_path, "acme-gone", "1.0.0")
    _publish(mesh, team, tmp_path, "acme-gone", "1.1.0")
    removed = npm(["unpublish", "acme-gone@1.1.0"], tmp_path, rc)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    async with pool.acquire() as conn:
        audited = await conn.fetch(
            "SELECT resource_id, before FROM super_agent.audit_entries "
            "WHERE team_id = $1::uuid AND action = 'artifacts.delete' ORDER BY seq",
            team.team_id,
        )
    assert [r["resource_id"] for r in audited] == ["npm:acme-gone@1.1.0"]
    before = audited[0]["before"]
    assert (json.loads(before) if isinstance(before, str) else before) == {"files": ["acme-gone-1.1.0.tgz"]}
    listed = npm(["dist-tag", "ls", "acme-gone"], tmp_path, rc)
    assert listed.stdout.splitlines() == ["latest: 1.0.0"]
    assert await _rows(pool, team.team_id) == ["acme-gone-1.0.0.tgz"]

    _publish(mesh, team, tmp_path, "acme-base", "1.0.0")
    _publish(mesh, team, tmp_path, "acme-user", "1.0.0", dependencies={"acme-base": "^1.0.0"})
    refused = npm(["unpublish", "acme-base", "--force"], tmp_path, rc)
    assert refused.returncode != 0
    assert "unpublish_refused" in refused.stderr
    assert "acme-base-1.0.0.tgz" in await _rows(pool, team.team_id)

    whole = npm(["unpublish", "acme-gone", "--force"], tmp_path, rc)
    assert whole.returncode == 0, whole.stderr
    assert npm(["view", "acme-gone"], tmp_path, rc).returncode != 0
    again = write_package(tmp_path / "again", "acme-gone", "1.0.0")
    republished = npm(["publish"], again, rc)
    assert republished.returncode != 0
    assert "version_exists" in republished.stderr
    read_only = npm(
        ["unpublish", "acme-user", "--force"], tmp_path, _rc(tmp_path / "rc-ci", mesh, team, team.read_key)
    )
    assert read_only.returncode != 0
    assert "403" in read_only.stderr


async def test_a_read_only_key_and_a_republished_version_are_refused(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """npm publish with an artifacts:read key is a 403 and stores nothing; publishing a version again
    is refused (npm reads the packument and refuses first; sent anyway, the PUT is a 409 in npm's JSON
    naming version_exists) and the first tarball stays."""
    team = await _team(pool)
    folder = write_package(tmp_path, "acme-once", "1.0.0")
    refused = npm(["publish"], folder, _rc(tmp_path / "rc-ci", mesh, team, team.read_key))
    assert refused.returncode != 0
    assert "403" in refused.stderr
    assert await _rows(pool, team.team_id) == []
    rc = _rc(tmp_path / "rc-publisher", mesh, team)
    assert npm(["publish"], folder, rc).returncode == 0
    (folder / "index.js").write_text("module.exports = 'other bytes';\n")
    again = npm(["publish"], folder, rc)
    assert again.returncode != 0
    assert "cannot publish over the previously published versions: 1.0.0" in again.stderr
    content = package_tarball("acme-once", "1.0.0", **{"package/other.js": b"1"})
    status, answer = await put_document(
        mesh.edge_url, team.team_id, team.key, "acme-once", publish_document("acme-once", "1.0.0", content)
    )
    assert status == 409, answer
    assert answer["error"].startswith("version_exists: You cannot publish over"), answer
    assert await _rows(pool, team.team_id) == ["acme-once-1.0.0.tgz"]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("integrity", "digest_mismatch"),
        ("traversal", "unsafe_archive"),
        ("symlink", "unsafe_archive"),
        ("manifest", "manifest_mismatch"),
    ],
)
async def test_a_tampered_or_malicious_publish_is_refused_and_leaves_nothing(
    mesh: Mesh, pool: Any, case: str, code: str
) -> None:
    """A publish whose integrity is not the tarball's, whose tarball escapes its folder or holds a
    symbolic link, or whose package.json names another version: a 4xx in npm's JSON naming the code;
    no row and no blob stay."""
    team = await _team(pool)
    name, version = f"acme-bad-{case}", "1.0.0"
    salt = uuid.uuid4().bytes  # bytes no other test publishes, so the blob would be this one's alone
    if case == "traversal":
        content = package_tarball(name, version, **{"package/../../evil.js": salt})
    elif case == "symlink":
        from tests.registry.npmpackages import tarball

        manifest = json.dumps({"name": name, "version": version}).encode()
        content = tarball(
            {"package/package.json": manifest, "package/salt": salt}, symlinks={"package/link": "/etc/passwd"}
        )
    elif case == "manifest":
        content = package_tarball(name, "9.9.9", **{"package/salt": salt})
    else:
        content = package_tarball(name, version, **{"package/salt": salt})
    document = publish_document(name, version, content)
    if case == "integrity":
        document["versions"][version]["dist"]["integrity"] = publish_document(name, version, content + b"x")[
            "versions"
        ][version]["dist"]["integrity"]
    blobs_before = _blob_files(mesh)
    status, answer = await put_document(mesh.edge_url, team.team_id, team.key, name, document)
    assert status == 400, answer
    assert answer["error"].startswith(f"{code}:"), answer
    assert await _rows(pool, team.team_id) == []
    assert _blob_files(mesh) == blobs_before


async def test_another_teams_key_gets_404_on_every_npm_route(mesh: Mesh, pool: Any, tmp_path: Path) -> None:
    """Team B's key on team A's registry and package: 404 in npm's JSON for packument, tarball,
    dist-tags, publish, deprecate and unpublish; also on B's own path for A's package; A untouched."""
    a, b = await _team(pool), await _team(pool)
    _publish(mesh, a, tmp_path, "acme-private", "1.0.0")
    a_base, b_base = registry_url(mesh.edge_url, a.team_id), registry_url(mesh.edge_url, b.team_id)
    content = package_tarball("acme-private", "2.0.0")
    calls: list[tuple[str, str, Any]] = [
        ("GET", f"{a_base}acme-private", None),
        ("GET", f"{a_base}acme-private/-/acme-private-1.0.0.tgz", None),
        ("GET", f"{a_base}-/package/acme-private/dist-tags", None),
        ("PUT", f"{a_base}-/package/acme-private/dist-tags/beta", "1.0.0"),
        ("DELETE", f"{a_base}-/package/acme-private/dist-tags/beta", None),
        ("PUT", f"{a_base}acme-private", publish_document("acme-private", "2.0.0", content)),
        (
            "PUT",
            f"{a_base}acme-private",
            {"name": "acme-private", "versions": {"1.0.0": {"deprecated": "x"}}},
        ),
        ("PUT", f"{a_base}acme-private/-rev/1-x", {"name": "acme-private", "versions": {}}),
        ("DELETE", f"{a_base}acme-private/-rev/1-x", None),
        ("DELETE", f"{a_base}acme-private/-/acme-private-1.0.0.tgz/-rev/1-x", None),
        ("GET", f"{a_base}-/v1/search?text=acme", None),
        ("GET", f"{b_base}acme-private", None),
        ("GET", f"{b_base}acme-private/-/acme-private-1.0.0.tgz", None),
        ("GET", f"{b_base}-/package/acme-private/dist-tags", None),
        ("DELETE", f"{b_base}acme-private/-rev/1-x", None),
    ]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {b.key}"}) as http:
        for method, url, body in calls:
            async with http.request(method, url, json=body) as response:
                answer = await response.json(content_type=None)
                assert response.status == 404, (method, url, answer)
                assert answer["error"].startswith("not_found:"), answer
        async with http.get(f"{b_base}-/v1/search?text=acme") as response:
            assert (await response.json())["objects"] == []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {a.key}"}) as http:
        async with http.get(f"{a_base}acme-private") as response:
            package = await response.json()
    assert list(package["versions"]) == ["1.0.0"]
    assert package["dist-tags"] == {"latest": "1.0.0"}
    assert "deprecated" not in package["versions"]["1.0.0"]


@pytest.fixture(scope="module")
def s3_mesh(
    tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str, s3_endpoint: S3Endpoint
) -> Iterator[Mesh]:
    """The edge and the ArtifactManagerAgent with blobs in moto's S3, for npm."""
    with s3_registry_mesh(tmp_path_factory.mktemp("npms3"), postgres_dsn, s3_endpoint) as mesh:
        yield mesh


async def test_npm_publishes_and_installs_with_blobs_in_s3(s3_mesh: Mesh, pool: Any, tmp_path: Path) -> None:
    """With blobs in S3 (moto's server), npm publish and npm install work as on the filesystem."""
    team = await _team(pool)
    _publish(s3_mesh, team, tmp_path, "@acme/on-s3", "1.0.0")
    app = _consumer(tmp_path, {"@acme/on-s3": "1.0.0"})
    installed = npm(["install"], app, _rc(tmp_path / "rc-ci", s3_mesh, team, team.read_key))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert _installed(app, "@acme/on-s3") == "1.0.0"
