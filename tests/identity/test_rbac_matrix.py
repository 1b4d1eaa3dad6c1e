"""Every role against every route of the table: exactly the permission table's answer, at the edge."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from agents.super_agent.routes import ROUTES
from services.gateway.route_table import PUBLIC, Route
from services.identity import sessions
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role, roles_allow
from tests.fixtures.mesh import MeshLauncher

PROTECTED = [route for route in ROUTES if route.permission != PUBLIC]


@pytest.fixture
async def sessions_by_role(launcher: MeshLauncher) -> AsyncIterator[tuple[MeshLauncher, dict[Role, str]]]:
    """One signed-in user per role, each in the same team, as session cookies."""
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    pool: asyncpg.Pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    tokens: dict[Role, str] = {}
    try:
        async with pool.acquire() as conn:
            account = await conn.fetchval(
                "INSERT INTO super_agent.accounts (github_id, login, kind) "
                "VALUES (900, 'matrix', 'Organization') RETURNING id"
            )
            team = await conn.fetchval(
                "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
                "VALUES ($1, 'matrix', 'Matrix', true) RETURNING id",
                account,
            )
            # A plan with every feature: this walks permissions (plan gates: tests/gateway).
            await conn.execute(
                "INSERT INTO super_agent.subscriptions "
                "(account_github_id, account_id, status, plan_key, state) "
                "VALUES (900, $1, 'active', 'local', '{}'::jsonb)",
                account,
            )
            for index, role in enumerate(Role):
                user = await conn.fetchval(
                    "INSERT INTO super_agent.users (github_id, login) VALUES ($1, $2) RETURNING id::text",
                    1000 + index,
                    f"user-{role.value}",
                )
                await conn.execute(
                    "INSERT INTO super_agent.team_members (team_id, user_id, role) VALUES ($1, $2::uuid, $3)",
                    team,
                    user,
                    role.value,
                )
                tokens[role] = await sessions.create(
                    conn, user, ttl=__import__("datetime").timedelta(hours=1), ip=None, user_agent="matrix"
                )
        yield launcher, tokens
    finally:
        await pool.close()


def concrete(path: str) -> str:
    """A path template with its parameters filled with plausible values (a digest is 64 hex digits: a
    path that cannot name anything is a 404 before any permission is asked)."""
    return re.sub(r"{[a-z_]+}", "abcdefabcdef", path.replace("{sha256}", "ab" * 32))


async def call(http: aiohttp.ClientSession, base: str, route: Route, token: str) -> int:
    headers = {"Cookie": f"mno_session={token}", "X-CSRF-Token": sessions.csrf_token(token)}
    body: dict[str, str] | None = {} if route.has_body else None
    async with http.request(route.method, f"{base}{concrete(route.path)}", json=body, headers=headers) as r:
        await r.read()
        return r.status


async def test_each_role_gets_exactly_what_the_table_grants(
    sessions_by_role: tuple[MeshLauncher, dict[Role, str]],
) -> None:
    """For every protected route and every role, 403 exactly when the table denies the permission."""
    launcher, tokens = sessions_by_role
    mismatches = []
    async with aiohttp.ClientSession() as http:
        for route in PROTECTED:
            assert isinstance(route.permission, Permission)
            for role, token in tokens.items():
                status = await call(http, launcher.edge_url, route, token)
                allowed = roles_allow((role.value,), route.permission)
                if allowed == (status == 403) or status == 401:
                    mismatches.append(
                        f"{route.method} {route.path} as {role.value}: {status}, allowed={allowed}"
                    )
    assert mismatches == []


def test_matrix_walks_the_team_routes() -> None:
    """Every protected route of teams, members, roles, invitations and audit is in the walked table."""
    from agents.super_agent.routes.teams import TEAM_ROUTES

    walked = {(route.method, route.path) for route in PROTECTED}
    team_routes = {(route.method, route.path) for route in TEAM_ROUTES if route.permission != PUBLIC}
    assert len(team_routes) >= 18
    assert team_routes <= walked
