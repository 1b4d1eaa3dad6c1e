"""Teams through the real edge (the SuperAgent process, its NATS and PostgreSQL): create, list, rename,
delete with the purge of the team's data, typed errors, and the audit entries of each write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Role, permissions_of_roles
from tests.fixtures.mesh import MeshLauncher
from tests.identity.test_teams_support import account, audit_actions, person, request


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        yield launcher.edge_url, pool
    finally:
        await pool.close()


async def test_team_lifecycle_through_the_edge(edge: tuple[str, asyncpg.Pool]) -> None:
    """Create (creator is owner), list, rename, refuse a taken slug, delete: gone, purged, audited."""
    base, pool = edge
    _, home = await account(pool, "acme")
    owner = await person(pool, home, "root", Role.OWNER)

    status, created = await request(base, "POST", "/api/v1/teams", owner.headers(), {"name": "Data Science"})
    assert status == 201, created
    assert (created["slug"], created["your_role"], created["is_default"]) == ("data-science", "owner", False)
    team_id = created["id"]

    status, listed = await request(base, "GET", "/api/v1/teams", owner.headers(), params={"limit": "1"})
    assert status == 200
    assert len(listed["teams"]) == 1
    assert listed["next_cursor"] is not None
    status, rest = await request(
        base, "GET", "/api/v1/teams", owner.headers(), params={"cursor": listed["next_cursor"]}
    )
    assert [t["id"] for t in listed["teams"] + rest["teams"]] == [home, team_id]

    status, renamed = await request(
        base, "PATCH", f"/api/v1/teams/{team_id}", owner.headers(), {"name": "DS"}
    )
    assert status == 200
    assert renamed["name"] == "DS"
    status, taken = await request(
        base, "PATCH", f"/api/v1/teams/{team_id}", owner.headers(), {"slug": "acme"}
    )
    assert status == 409
    assert taken["error"]["code"] == "conflict"

    status, refused = await request(base, "DELETE", f"/api/v1/teams/{home}", owner.headers())
    assert status == 409  # the default team stays
    status, refused = await request(base, "DELETE", f"/api/v1/teams/{team_id}", owner.headers(team_id))
    assert status == 409  # acting in it: its deletion would be recorded in the chain being purged
    assert "another team" in refused["error"]["message"]

    assert await audit_actions(pool, team_id) == ["teams.update"]
    status, deleted = await request(base, "DELETE", f"/api/v1/teams/{team_id}", owner.headers())
    assert status == 202, deleted
    assert deleted["team"]["deleted_at"] is not None
    assert deleted["purge_request_id"] == f"team:{team_id}"
    status, _ = await request(base, "GET", f"/api/v1/teams/{team_id}", owner.headers())
    assert status == 404
    status, listed = await request(base, "GET", "/api/v1/teams", owner.headers())
    assert [t["id"] for t in listed["teams"]] == [home]

    # The SuperAgent consumes its own purge request like every agent: its confirmation arrives and
    # the team's audit chain is purged; the deletion itself stays in the acting team's chain.
    for _ in range(100):
        confirmed = await pool.fetchval(
            "SELECT count(*) FROM super_agent.purge_confirmations WHERE request_id = $1", f"team:{team_id}"
        )
        if confirmed:
            break
        await asyncio.sleep(0.1)
    assert confirmed == 1
    assert await audit_actions(pool, team_id) == []
    assert await audit_actions(pool, home) == ["teams.create", "teams.delete"]
    assert (
        await pool.fetchval("SELECT count(*) FROM super_agent.team_members WHERE team_id = $1::uuid", team_id)
        == 0
    )


async def test_team_errors_are_typed(edge: tuple[str, asyncpg.Pool]) -> None:
    """A viewer cannot create (403), a bad id is 422, an unknown one 404, all as typed JSON errors."""
    base, pool = edge
    _, home = await account(pool, "acme")
    viewer = await person(pool, home, "vic", Role.VIEWER)
    owner = await person(pool, home, "root", Role.OWNER)
    for who, method, path, body, code in (
        (viewer, "POST", "/api/v1/teams", {"name": "x"}, 403),
        (owner, "GET", "/api/v1/teams/not-a-uuid", None, 422),
        (owner, "GET", "/api/v1/teams/8f0f7c1e-6f3c-4a59-9a55-8b9f3bb4d111", None, 404),
        (owner, "POST", "/api/v1/teams", {"name": ""}, 422),
        (owner, "PATCH", f"/api/v1/teams/{home}", {}, 422),
    ):
        status, answer = await request(base, method, path, who.headers(), body)
        assert status == code, (method, path, answer)
        assert set(answer) == {"error", "correlation_id"}
        assert answer["error"]["code"] in {"forbidden", "validation_failed", "not_found"}


async def test_roles_route_is_the_permission_table(edge: tuple[str, asyncpg.Pool]) -> None:
    """GET /api/v1/roles answers every role with exactly the permissions the table grants it."""
    base, pool = edge
    _, home = await account(pool, "acme")
    viewer = await person(pool, home, "vic", Role.VIEWER)
    status, matrix = await request(base, "GET", "/api/v1/roles", viewer.headers())
    assert status == 200
    got = {r["role"]: set(r["permissions"]) for r in matrix["roles"]}
    assert got == {role.value: {p.value for p in permissions_of_roles((role.value,))} for role in Role}
