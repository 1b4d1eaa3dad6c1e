"""Forcing a delete the delete policy refuses, through the REST API on the session's mesh: an owner's
key overrides it (Python's delete policy, npm's unpublish policy), a key holding `artifacts:delete`
but not `artifacts:delete_override` is refused 403, and every override is on the audit log naming the
rule it overrode."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.identity import apikeys
from shared.messages.permissions import Permission, Role, permissions_of_roles
from tests.fixtures.mesh import Mesh
from tests.fixtures.teams import org_team_key
from tests.registry.coremeta import core_metadata, wheel
from tests.registry.npmpackages import package_tarball, publish_document, put_document
from tests.registry.pypackages import upload_bytes

# A CI key that may clean up (fresh versions), but not override the policy.
CLEANER = [
    Permission.ARTIFACTS_READ,
    Permission.ARTIFACTS_PUBLISH,
    Permission.ARTIFACTS_YANK,
    Permission.ARTIFACTS_DELETE,
]


@dataclass(frozen=True)
class Team:
    team_id: str
    owner: str  # an owner's permissions (artifacts:delete_override among them)
    cleaner: str  # CLEANER
    member: str  # a member's permissions (no artifacts:delete)


async def _team(pool: Any) -> Team:
    async with pool.acquire() as conn:
        owner = await org_team_key(conn, sorted(permissions_of_roles((Role.OWNER.value,))))
        team_id = str(
            await conn.fetchval(
                "SELECT team_id::text FROM super_agent.api_keys WHERE key_id = $1", owner.split("_")[1]
            )
        )
        keys = []
        for permissions in (CLEANER, sorted(permissions_of_roles((Role.MEMBER.value,)))):
            _, token = await apikeys.create(
                conn,
                team_id=team_id,
                name=f"k-{uuid.uuid4().hex[:6]}",
                permissions=permissions,
                created_by=None,
            )
            keys.append(str(token))
    return Team(team_id, owner, *keys)


async def _publish_python(mesh: Mesh, team: Team, name: str, requires: tuple[str, ...] = ()) -> None:
    filename, content = wheel(name, "1.0", core_metadata(name, "1.0", requires=requires))
    status, text = await upload_bytes(mesh.edge_url, team.team_id, team.owner, name, "1.0", filename, content)
    assert status == 200, text


async def _age(pool: Any, team_id: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE artifact_manager.versions SET published_at = now() - interval '73 hours' "
            "WHERE team_id = $1::uuid",
            team_id,
        )


async def _audit(pool: Any, team_id: str) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT action, resource_id, before, after, actor_api_key_id FROM super_agent.audit_entries "
            "WHERE team_id = $1::uuid AND action LIKE 'artifacts.delete%' ORDER BY seq",
            team_id,
        )
    decoded = []
    for row in rows:
        entry = dict(row)
        for column in ("before", "after"):
            if isinstance(entry[column], str):
                entry[column] = json.loads(entry[column])
        decoded.append(entry)
    return decoded


async def test_an_owner_forces_a_refused_python_delete_and_a_cleaner_key_cannot(
    mesh: Mesh, pool: Any
) -> None:
    """An old version another package depends on: refused 409 without force; force with a key lacking
    artifacts:delete_override is a 403 naming it (a member's key: 403 naming artifacts:delete), rows
    kept; the owner's force deletes it, the answer and the audit entry name the rule and reason."""
    team = await _team(pool)
    await _publish_python(mesh, team, "acme-base")
    await _publish_python(mesh, team, "acme-user", requires=("acme-base>=1",))
    await _age(pool, team.team_id)
    url = f"{mesh.edge_url}/api/v1/registry/packages/pypi/acme-base/versions/1.0"
    async with aiohttp.ClientSession() as http:
        async with http.delete(url, headers={"Authorization": f"Bearer {team.cleaner}"}) as response:
            assert response.status == 409, await response.text()
            refused = await response.json()
        assert refused["error"]["details"][0]["type"] == "delete_refused"
        assert "force=true" in refused["error"]["message"]
        async with http.delete(
            url, params={"force": "true"}, headers={"Authorization": f"Bearer {team.cleaner}"}
        ) as response:
            assert response.status == 403, await response.text()
            forbidden = await response.json()
        assert forbidden["error"]["code"] == "forbidden"
        assert "artifacts:delete_override" in forbidden["error"]["message"]
        async with http.delete(
            url, params={"force": "true"}, headers={"Authorization": f"Bearer {team.member}"}
        ) as response:
            assert response.status == 403, await response.text()
            assert "artifacts:delete" in (await response.json())["error"]["message"]
        async with http.delete(
            url, params={"force": "maybe"}, headers={"Authorization": f"Bearer {team.owner}"}
        ) as response:
            assert response.status == 422, await response.text()
        assert await _audit(pool, team.team_id) == []
        async with http.delete(
            url,
            params={"force": "true", "reason": "leaked a token"},
            headers={"Authorization": f"Bearer {team.owner}"},
        ) as response:
            assert response.status == 200, await response.text()
            deleted = await response.json()
        assert deleted["versions"] == ["1.0"]
        (overridden,) = deleted["overridden"]
        assert overridden["code"] == "delete_refused"
        assert overridden["rule"] == "old_version_with_dependents"
        async with http.get(url, headers={"Authorization": f"Bearer {team.owner}"}) as response:
            assert response.status == 404
        # The audit API's filter on `artifacts.delete` finds the override below it.
        async with http.get(
            f"{mesh.edge_url}/api/v1/audit",
            params={"action": "artifacts.delete"},
            headers={"Authorization": f"Bearer {team.owner}"},
        ) as response:
            assert response.status == 200, await response.text()
            listed = await response.json()
    assert [e["action"] for e in listed["entries"]] == ["artifacts.delete.override"]
    (entry,) = await _audit(pool, team.team_id)
    assert entry["action"] == "artifacts.delete.override"
    assert entry["resource_id"] == "pypi:acme-base@1.0"
    assert entry["actor_api_key_id"] == team.owner.split("_")[1]
    assert entry["before"] == {"files": ["acme_base-1.0-py3-none-any.whl"]}
    assert entry["after"]["forced"] is True
    assert entry["after"]["reason"] == "leaked a token"
    (overrode,) = entry["after"]["overrode"]
    assert overrode["rule"] == "old_version_with_dependents"
    assert "depend on acme-base" in overrode["message"]


async def test_force_on_a_delete_the_policy_allows_is_a_plain_audited_delete(mesh: Mesh, pool: Any) -> None:
    """force=true where nothing refuses (a fresh package) deletes as usual: `artifacts.delete`,
    marked forced, nothing overridden."""
    team = await _team(pool)
    await _publish_python(mesh, team, "acme-fresh")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.owner}"}) as http:
        async with http.delete(
            f"{mesh.edge_url}/api/v1/registry/packages/pypi/acme-fresh", params={"force": "1"}
        ) as response:
            assert response.status == 200, await response.text()
            deleted = await response.json()
    assert deleted["overridden"] == []
    (entry,) = await _audit(pool, team.team_id)
    assert (entry["action"], entry["resource_id"]) == ("artifacts.delete", "pypi:acme-fresh")
    assert entry["after"] == {"forced": True, "reason": None}


async def test_an_owner_forces_a_refused_npm_package_delete(mesh: Mesh, pool: Any) -> None:
    """npm's unpublish policy refuses a REST delete of a package another depends on (409 naming the
    override); the owner's force deletes every version, each version's overridden rule in the answer
    and on the audit entry."""
    team = await _team(pool)
    for version in ("1.0.0", "1.1.0"):
        document = publish_document("acme-core", version, package_tarball("acme-core", version))
        assert (await put_document(mesh.edge_url, team.team_id, team.owner, "acme-core", document))[0] in (
            200,
            201,
        )
    uses = publish_document(
        "acme-uses", "1.0.0", package_tarball("acme-uses", "1.0.0"), dependencies={"acme-core": "^1.0.0"}
    )
    assert (await put_document(mesh.edge_url, team.team_id, team.owner, "acme-uses", uses))[0] in (200, 201)
    url = f"{mesh.edge_url}/api/v1/registry/packages/npm/acme-core"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.owner}"}) as http:
        async with http.delete(url) as response:
            assert response.status == 409, await response.text()
            refused = await response.json()
        assert refused["error"]["details"][0]["type"] == "unpublish_refused"
        assert "force=true" in refused["error"]["message"]
        async with http.delete(url, params={"force": "true", "reason": "renamed"}) as response:
            assert response.status == 200, await response.text()
            deleted = await response.json()
    assert deleted["versions"] == ["1.1.0", "1.0.0"]
    assert sorted((o["version"], o["rule"]) for o in deleted["overridden"]) == [
        ("1.0.0", "has_dependents"),
        ("1.1.0", "has_dependents"),
    ]
    (entry,) = await _audit(pool, team.team_id)
    assert (entry["action"], entry["resource_id"]) == ("artifacts.delete.override", "npm:acme-core")
    assert entry["after"]["reason"] == "renamed"
    assert {o["rule"] for o in entry["after"]["overrode"]} == {"has_dependents"}
    assert entry["before"]["versions"] == ["1.1.0", "1.0.0"]
