"""npm packages through the ecosystem-neutral REST API (/api/v1/registry/...): yank is refused with a
pointer to `npm deprecate`, and deleting a version moves the dist-tags as `npm unpublish` does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from shared.db.postgres import create_pool
from tests.fixtures.mesh import Mesh
from tests.registry.npmpackages import package_tarball, publish_document, put_document, registry_url
from tests.registry.test_python_registry import _team


@pytest.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield pool
    finally:
        await pool.close()


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
