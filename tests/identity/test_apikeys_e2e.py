"""API keys through the real edge: shown once, hashed, scoped to team and permissions, revocable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest

from services.identity import apikeys
from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.mesh import TOKEN as OPERATOR_TOKEN
from tests.fixtures.mesh import MeshLauncher


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[MeshLauncher, asyncpg.Pool]]:
    launcher.start(AgentName.SUPER_AGENT)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield launcher, pool
    finally:
        await pool.close()


async def call(
    launcher: MeshLauncher, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, f"{launcher.edge_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status, await response.json()


async def other_team_key(pool: asyncpg.Pool, permissions: list[Permission]) -> tuple[str, str]:
    """A key of a second account's team: (team id, token)."""
    async with pool.acquire() as conn:
        account = await conn.fetchval(
            "INSERT INTO super_agent.accounts (github_id, login, kind) VALUES (777, 'other', 'Organization') "
            "RETURNING id"
        )
        team = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1, 'other', 'Other', true) RETURNING id::text",
            account,
        )
        _, token = await apikeys.create(
            conn, team_id=team, name="b", permissions=permissions, created_by=None
        )
    return team, token


async def test_created_key_is_shown_once_and_works(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """A new key's token is in the 201 answer only; the list never shows it; the key authenticates."""
    launcher, pool = edge
    admin = await ensure_local_admin(pool)
    status, created = await call(
        launcher, "POST", "/api/v1/apikeys", admin, {"name": "ci", "permissions": ["mesh:read"]}
    )
    assert status == 201
    token = created["token"]
    assert token.startswith("mno_")
    status, listed = await call(launcher, "GET", "/api/v1/apikeys", admin)
    assert status == 200
    assert token not in str(listed)
    assert created["key"]["key_id"] in {k["key_id"] for k in listed["keys"]}
    status, _ = await call(launcher, "GET", "/api/v1/mesh", token)
    assert status == 200
    stored = await pool.fetchval(
        "SELECT secret_hash FROM super_agent.api_keys WHERE key_id = $1", created["key"]["key_id"]
    )
    assert token.split("_")[2].encode() not in bytes(stored)


async def test_key_can_only_do_what_it_was_given(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """A key with mesh:read only is refused (403) on routes needing other permissions."""
    launcher, pool = edge
    admin = await ensure_local_admin(pool)
    _, created = await call(
        launcher, "POST", "/api/v1/apikeys", admin, {"name": "r", "permissions": ["mesh:read"]}
    )
    status, body = await call(launcher, "GET", "/api/v1/apikeys", created["token"])
    assert status == 403
    assert "apikeys:read" in body["error"]["message"]
    status, _ = await call(launcher, "POST", "/api/v1/mesh/canaries", created["token"], {})
    assert status == 403


async def test_no_escalation_through_new_keys(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """A key allowed to create keys cannot create one with a permission it does not hold."""
    launcher, pool = edge
    admin = await ensure_local_admin(pool)
    _, creator = await call(
        launcher,
        "POST",
        "/api/v1/apikeys",
        admin,
        {"name": "c", "permissions": ["apikeys:create", "mesh:read"]},
    )
    status, body = await call(
        launcher,
        "POST",
        "/api/v1/apikeys",
        creator["token"],
        {"name": "x", "permissions": ["mesh:read", "mesh:write"]},
    )
    assert status == 403
    assert body["error"]["details"][0]["message"] == "not yours to grant: mesh:write"
    status, _ = await call(
        launcher, "POST", "/api/v1/apikeys", creator["token"], {"name": "ok", "permissions": ["mesh:read"]}
    )
    assert status == 201


async def test_revoked_and_expired_keys_stop_working(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """After DELETE the key gets 401; an expired key gets 401; revoking an unknown id is 404."""
    launcher, pool = edge
    admin = await ensure_local_admin(pool)
    _, created = await call(
        launcher, "POST", "/api/v1/apikeys", admin, {"name": "t", "permissions": ["mesh:read"]}
    )
    key_id = created["key"]["key_id"]
    assert (await call(launcher, "GET", "/api/v1/mesh", created["token"]))[0] == 200
    status, revoked = await call(launcher, "DELETE", f"/api/v1/apikeys/{key_id}", admin)
    assert status == 200
    assert revoked["revoked_at"] is not None
    status, body = await call(launcher, "GET", "/api/v1/mesh", created["token"])
    assert status == 401
    assert body["error"]["code"] == "unauthenticated"
    assert (await call(launcher, "DELETE", "/api/v1/apikeys/zzzzzzzzzzzz", admin))[0] == 404
    # A key cannot be created expired (422): one that expires later is made to have expired.
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, expired = await call(
        launcher,
        "POST",
        "/api/v1/apikeys",
        admin,
        {"name": "e", "permissions": ["mesh:read"], "expires_at": soon},
    )
    assert status == 201
    await pool.execute(
        "UPDATE super_agent.api_keys SET expires_at = now() - interval '1 second' WHERE key_id = $1",
        expired["key"]["key_id"],
    )
    assert (await call(launcher, "GET", "/api/v1/mesh", expired["token"]))[0] == 401


async def test_last_use_is_recorded(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """Using a key records when it was last used."""
    launcher, pool = edge
    admin = await ensure_local_admin(pool)
    _, created = await call(
        launcher, "POST", "/api/v1/apikeys", admin, {"name": "u", "permissions": ["mesh:read"]}
    )
    assert created["key"]["last_used_at"] is None
    await call(launcher, "GET", "/api/v1/mesh", created["token"])
    for _ in range(50):
        used = await pool.fetchval(
            "SELECT last_used_at FROM super_agent.api_keys WHERE key_id = $1", created["key"]["key_id"]
        )
        if used is not None:
            break
        await asyncio.sleep(0.05)
    assert used is not None


async def test_team_b_cannot_see_or_revoke_team_a_keys(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """Another team's key lists only its own keys and gets 404 revoking team A's key."""
    launcher, pool = edge
    admin = await ensure_local_admin(pool)
    _, a_key = await call(
        launcher, "POST", "/api/v1/apikeys", admin, {"name": "a", "permissions": ["mesh:read"]}
    )
    _, b_token = await other_team_key(pool, [Permission.APIKEYS_READ, Permission.APIKEYS_REVOKE])
    status, listed = await call(launcher, "GET", "/api/v1/apikeys", b_token)
    assert status == 200
    assert a_key["key"]["key_id"] not in {k["key_id"] for k in listed["keys"]}
    status, _ = await call(launcher, "DELETE", f"/api/v1/apikeys/{a_key['key']['key_id']}", b_token)
    assert status == 404
    assert (await call(launcher, "GET", "/api/v1/mesh", a_key["token"]))[0] == 200


@pytest.mark.parametrize(
    "token",
    ["mno_short", "mno_abcdefghijkl_" + "x" * 40, "mno_abcdefghijkl_" + "A" * 39 + "!", "Bearer", "a" * 5000],
)
async def test_malformed_or_unknown_keys_are_401(edge: tuple[MeshLauncher, asyncpg.Pool], token: str) -> None:
    """Garbage, unknown and malformed keys get 401, never a 500."""
    launcher, _ = edge
    status, body = await call(launcher, "GET", "/api/v1/apikeys", token)
    assert status == 401
    assert body["error"]["code"] == "unauthenticated"


async def test_operator_token_reaches_no_team(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """The configured operator token may inspect the mesh but is refused on team resources."""
    launcher, _ = edge
    assert (await call(launcher, "GET", "/api/v1/mesh", OPERATOR_TOKEN))[0] == 200
    status, body = await call(launcher, "GET", "/api/v1/apikeys", OPERATOR_TOKEN)
    assert status == 403
    assert "not tied to a team" in body["error"]["message"]


async def test_bad_create_bodies_are_422(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """Unknown permissions, an empty list or a missing name are 422 naming the field."""
    launcher, pool = edge
    admin = await ensure_local_admin(pool)
    for body, field in (
        ({"name": "x", "permissions": ["root:all"]}, "permissions.0"),
        ({"name": "x", "permissions": []}, "permissions"),
        ({"permissions": ["mesh:read"]}, "name"),
    ):
        status, answer = await call(launcher, "POST", "/api/v1/apikeys", admin, body)
        assert status == 422
        assert answer["error"]["details"][0]["loc"] == field


async def test_creating_and_revoking_keys_is_audited(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """Create and revoke each append an audit entry (who, which key, its name, permissions and expiry),
    never the token."""
    launcher, pool = edge
    admin = await ensure_local_admin(pool)
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    _, created = await call(
        launcher,
        "POST",
        "/api/v1/apikeys",
        admin,
        {"name": "audited", "permissions": ["mesh:read", "costs:read"], "expires_at": expires.isoformat()},
    )
    key_id = created["key"]["key_id"]
    assert (await call(launcher, "DELETE", f"/api/v1/apikeys/{key_id}", admin))[0] == 200
    assert (await call(launcher, "DELETE", "/api/v1/apikeys/zzzzzzzzzzzz", admin))[0] == 404
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{launcher.edge_url}/api/v1/audit",
            params={"action": "apikeys", "resource_id": key_id},
            headers={"Authorization": f"Bearer {admin}"},
        ) as response,
    ):
        assert response.status == 200
        page = await response.json()
    entries = page["entries"]
    assert [(e["action"], e["resource_type"], e["resource_id"]) for e in entries] == [
        ("apikeys.revoke", "api_key", key_id),
        ("apikeys.create", "api_key", key_id),
    ]
    after = entries[1]["after"]
    assert after["name"] == "audited"
    assert after["permissions"] == ["costs:read", "mesh:read"]
    assert datetime.fromisoformat(after["expires_at"]) == expires
    assert entries[0]["actor"]["api_key_id"] == admin.split("_")[1]
    assert created["token"] not in str(page)
    total = await pool.fetchval(
        "SELECT count(*) FROM super_agent.audit_entries WHERE action LIKE 'apikeys.%' AND resource_id = $1",
        key_id,
    )
    assert total == 2
