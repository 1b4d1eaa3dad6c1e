"""The caller as the edge sees it, whatever the credential (session cookie, API key, operator token):
`GET /api/v1/session` describes them and every "your role" answer names their role, through the real
SuperAgent process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.identity import apikeys
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role, permissions_of_roles
from tests.fixtures.mesh import TOKEN, MeshLauncher
from tests.identity.test_teams_support import Person, account, person, request


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        yield launcher.edge_url, pool
    finally:
        await pool.close()


async def key_of(pool: asyncpg.Pool, who: Person, permissions: list[Permission]) -> dict[str, str]:
    """Headers with a new API key of `who` in their team (and no cookie)."""
    async with pool.acquire() as conn:
        _, token = await apikeys.create(
            conn,
            team_id=who.team_id,
            name=f"{who.login}-key",
            permissions=permissions,
            created_by=who.user_id,
        )
    return {"Authorization": f"Bearer {token}"}


async def test_session_route_describes_every_kind_of_caller(edge: tuple[str, asyncpg.Pool]) -> None:
    """GET /api/v1/session answers a session, an API key and the operator token; 401 only without one."""
    base, pool = edge
    _, home = await account(pool, "whoami-org")
    owner = await person(pool, home, "whoami-owner", Role.OWNER)
    key_permissions = [Permission.COSTS_READ, Permission.TOKEN_EVENTS_WRITE]
    key = await key_of(pool, owner, key_permissions)

    status, by_session = await request(base, "GET", "/api/v1/session", owner.headers())
    assert status == 200, by_session
    assert by_session["credential"] == "session"
    assert (by_session["team_id"], by_session["role"]) == (home, "owner")
    assert by_session["csrf_token"]
    assert set(by_session["permissions"]) == {p.value for p in permissions_of_roles(("owner",))}

    status, by_key = await request(base, "GET", "/api/v1/session", key)
    assert status == 200, by_key
    assert by_key["credential"] == "api_key"
    assert by_key["api_key_id"]
    assert by_key["user"] == {"id": owner.user_id, "login": "whoami-owner"}
    assert (by_key["team_id"], by_key["role"]) == (home, "owner")
    assert [(t["team_id"], t["role"]) for t in by_key["teams"]] == [(home, "owner")]
    assert sorted(by_key["permissions"]) == sorted(p.value for p in key_permissions)
    assert by_key["csrf_token"] is None  # a key is never sent by a browser on its own

    status, by_operator = await request(base, "GET", "/api/v1/session", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, by_operator
    assert by_operator["credential"] == "operator"
    assert (by_operator["team_id"], by_operator["teams"]) == (None, [])

    status, anonymous = await request(base, "GET", "/api/v1/session", {})
    assert status == 401
    assert anonymous["error"]["code"] == "unauthenticated"
    status, _ = await request(base, "GET", "/api/v1/session", {"Authorization": "Bearer mno_x_y"})
    assert status == 401


async def test_your_role_is_named_for_api_keys_as_for_sessions(edge: tuple[str, asyncpg.Pool]) -> None:
    """/api/v1/teams and /api/v1/teams/{id} give a key its creator's role, as they give a session's."""
    base, pool = edge
    _, home = await account(pool, "role-org")
    owner = await person(pool, home, "role-owner", Role.OWNER)
    viewer = await person(pool, home, "role-viewer", Role.VIEWER)
    owner_key = await key_of(pool, owner, sorted(permissions_of_roles(("owner",))))
    viewer_key = await key_of(pool, viewer, [Permission.TEAMS_READ])

    for headers, role in ((owner.headers(), "owner"), (owner_key, "owner"), (viewer_key, "viewer")):
        status, listed = await request(base, "GET", "/api/v1/teams", headers)
        assert status == 200, listed
        assert [(t["id"], t["your_role"]) for t in listed["teams"]] == [(home, role)]
        status, one = await request(base, "GET", f"/api/v1/teams/{home}", headers)
        assert status == 200, one
        assert one["your_role"] == role
