"""npm packages through the ecosystem-neutral REST API (/api/v1/registry/...): yank is refused with a
pointer to `npm deprecate`, deleting a version moves the dist-tags as `npm unpublish` does, and a
scoped package (`@scope/name`, its path segment `@scope%2Fname`) answers every route."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fixtures.mesh import Mesh
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
from tests.registry.test_python_registry import _team


async def _publish(mesh: Mesh, team_id: str, key: str, name: str, version: str) -> tuple[int, Any]:
    document = publish_document(name, version, package_tarball(name, version))
    return await put_document(mesh.edge_url, team_id, key, name, document)


async def test_yanking_an_npm_version_is_refused_naming_npm_deprecate(mesh: Mesh, pool: Any) -> None:
    """A REST yank of an npm version is a 422 naming `npm deprecate`; the version stays latest."""
    team = await _team(pool)
    assert (await _publish(mesh, team.team_id, team.key, "acme-yanked", "1.0.0"))[0] in (200, 201)
    api = f"{mesh.edge_url}/api/v1/registry/packages/npm/acme-yanked"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        async with http.post(f"{api}/versions/1.0.0/yank", json={"reason": "broken"}) as response:
            assert response.status == 422, await response.text()
            body = await response.json()
        assert body["error"]["details"][0]["type"] == "not_in_ecosystem", body
        assert "npm deprecate acme-yanked@1.0.0" in body["error"]["message"]
        async with http.get(api) as response:
            assert (await response.json())["package"]["latest"] == "1.0.0"


async def test_deleting_an_npm_version_moves_its_dist_tags_and_retires_the_number(
    mesh: Mesh, pool: Any
) -> None:
    """DELETE of the `latest` version through the REST API moves latest to the highest left, drops other
    tags on it (the packument shows it), and the number cannot be published again."""
    team = await _team(pool)
    for version in ("1.0.0", "1.10.0", "2.0.0"):
        assert (await _publish(mesh, team.team_id, team.key, "acme-retag", version))[0] in (200, 201)
    packument = registry_url(mesh.edge_url, team.team_id) + "acme-retag"
    api = f"{mesh.edge_url}/api/v1/registry/packages/npm/acme-retag"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        async with http.put(
            registry_url(mesh.edge_url, team.team_id) + "-/package/acme-retag/dist-tags/beta", json="2.0.0"
        ) as r:
            assert r.status in (200, 201), await r.text()
        async with http.delete(f"{api}/versions/2.0.0") as response:
            assert response.status == 200, await response.text()
        async with http.get(packument) as response:
            document = await response.json(content_type=None)
    assert document["dist-tags"] == {"latest": "1.10.0"}
    assert sorted(document["versions"]) == ["1.0.0", "1.10.0"]
    status, _ = await _publish(mesh, team.team_id, team.key, "acme-retag", "2.0.0")
    assert status == 409


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
async def test_a_scoped_package_published_with_npm_answers_every_rest_route(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """A scoped package published by real npm (`@acme%2Fui` in the path): GET package and version,
    `depends_on=@acme/ui` finds its dependent, yank is the 422 naming npm deprecate, DELETE works."""
    team = await _team(pool)
    rc_folder = tmp_path / "rc"
    rc_folder.mkdir()
    rc = write_npmrc(rc_folder, mesh.edge_url, team.team_id, team.key)
    for name, version, dependencies in (
        ("@acme/ui", "1.0.0", None),
        ("@acme/ui", "1.1.0", None),
        ("@acme/app", "2.0.0", {"@acme/ui": "^1.0.0"}),
    ):
        folder = write_package(tmp_path, name, version, dependencies=dependencies)
        published = npm(["publish"], folder, rc)
        assert published.returncode == 0, published.stdout + published.stderr
    api = f"{mesh.edge_url}/api/v1/registry/packages"
    package = f"{api}/npm/%40acme%2Fui"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        async with http.get(package) as response:
            assert response.status == 200, await response.text()
            versions = await response.json()
        assert versions["package"]["name"] == "@acme/ui"
        assert [v["version"] for v in versions["versions"]] == ["1.1.0", "1.0.0"]
        async with http.get(f"{package}/versions/1.0.0") as response:
            assert response.status == 200, await response.text()
            version = await response.json()
        assert (version["name"], version["version"]) == ("@acme/ui", "1.0.0")
        async with http.get(api, params={"depends_on": "@acme/ui"}) as response:
            assert response.status == 200, await response.text()
            assert [p["name"] for p in (await response.json())["items"]] == ["@acme/app"]
        async with http.post(f"{package}/versions/1.0.0/yank", json={"reason": "broken"}) as response:
            assert response.status == 422, await response.text()
            assert "npm deprecate @acme/ui@1.0.0" in (await response.json())["error"]["message"]
        async with http.get(api, params={"ecosystem": "pypi", "depends_on": "@acme/ui"}) as response:
            assert response.status == 422, await response.text()
        # npm's unpublish policy holds for REST deletes: @acme/app depends on @acme/ui.
        async with http.delete(f"{package}/versions/1.1.0") as response:
            assert response.status == 409, await response.text()
            assert (await response.json())["error"]["details"][0]["type"] == "unpublish_refused"
        async with http.delete(f"{api}/npm/%40acme%2Fapp") as response:
            assert response.status == 200, await response.text()
        async with http.delete(f"{package}/versions/1.1.0") as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["versions"] == ["1.1.0"]
        async with http.delete(package) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["name"] == "@acme/ui"
        async with http.get(package) as response:
            assert response.status == 404, await response.text()


async def test_rest_deletes_of_npm_versions_follow_the_unpublish_policy_and_are_audited(
    mesh: Mesh, pool: Any
) -> None:
    """A REST DELETE of an npm version or package is refused 409 unpublish_refused where `npm unpublish`
    would be (another package depends on it; older than 72 h with 300+ downloads), rows kept; an
    allowed delete leaves an `artifacts.delete` audit row naming the version and its files."""
    team = await _team(pool)
    assert (await _publish(mesh, team.team_id, team.key, "acme-core", "1.0.0"))[0] in (200, 201)
    document = publish_document(
        "acme-uses", "1.0.0", package_tarball("acme-uses", "1.0.0"), dependencies={"acme-core": "^1.0.0"}
    )
    assert (await put_document(mesh.edge_url, team.team_id, team.key, "acme-uses", document))[0] in (200, 201)
    for version in ("1.0.0", "1.1.0"):
        assert (await _publish(mesh, team.team_id, team.key, "acme-popular", version))[0] in (200, 201)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE artifact_manager.versions v SET published_at = now() - interval '73 hours' "
            "FROM artifact_manager.packages p WHERE p.id = v.package_id AND v.team_id = $1::uuid "
            "AND p.name = 'acme-popular' AND v.version = '1.0.0'",
            team.team_id,
        )
        await conn.execute(
            "UPDATE artifact_manager.files SET downloads = 300 WHERE team_id = $1::uuid AND filename = $2",
            team.team_id,
            "acme-popular-1.0.0.tgz",
        )
    api = f"{mesh.edge_url}/api/v1/registry/packages/npm"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        for path, rule in (
            (f"{api}/acme-core/versions/1.0.0", "depend on it"),
            (f"{api}/acme-core", "depend on it"),
            (f"{api}/acme-popular/versions/1.0.0", "downloaded 300 times"),
            (f"{api}/acme-popular", "downloaded 300 times"),
        ):
            async with http.delete(path) as response:
                assert response.status == 409, await response.text()
                body = await response.json()
            assert body["error"]["details"][0]["type"] == "unpublish_refused", body
            assert rule in body["error"]["message"]
        async with http.delete(f"{api}/acme-popular/versions/1.1.0") as response:
            assert response.status == 200, await response.text()
    async with pool.acquire() as conn:
        files = await conn.fetchval(
            "SELECT array_agg(filename ORDER BY filename) FROM artifact_manager.files "
            "WHERE team_id = $1::uuid",
            team.team_id,
        )
        audited = await conn.fetch(
            "SELECT resource_id, before FROM super_agent.audit_entries "
            "WHERE team_id = $1::uuid AND action = 'artifacts.delete' ORDER BY seq",
            team.team_id,
        )
    assert files == ["acme-core-1.0.0.tgz", "acme-popular-1.0.0.tgz", "acme-uses-1.0.0.tgz"]
    assert [r["resource_id"] for r in audited] == ["npm:acme-popular@1.1.0"]
    before = audited[0]["before"]
    assert (json.loads(before) if isinstance(before, str) else before) == {
        "files": ["acme-popular-1.1.0.tgz"]
    }
