"""Helpers of the teams/members/invitations/IDOR tests: accounts, teams and people put straight into
PostgreSQL, sessions for them, and calls to a running edge as those people."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg

from services.identity import sessions
from services.identity.audit_api import Acting
from shared.messages.envelope import Principal
from shared.messages.permissions import Role

_ids = itertools.count(50_000)


@dataclass(frozen=True)
class Person:
    user_id: str
    login: str
    team_id: str
    role: Role
    session: str  # a session cookie value

    @property
    def principal(self) -> Principal:
        return Principal(team_id=self.team_id, user_id=self.user_id, roles=(self.role.value,))

    @property
    def acting(self) -> Acting:
        return Acting(principal=self.principal, ip="127.0.0.1", user_agent="tests")

    def headers(self, team_id: str | None = None) -> dict[str, str]:
        return {
            "Cookie": f"mno_session={self.session}",
            "X-CSRF-Token": sessions.csrf_token(self.session),
            "X-MNO-Team": team_id or self.team_id,
        }


async def account(pool: asyncpg.Pool, login: str, *, plan: str | None = None) -> tuple[str, str]:
    """An organisation account and its default team: (account id, team id)."""
    github_id = next(_ids)
    async with pool.acquire() as conn:
        account_id = await conn.fetchval(
            "INSERT INTO super_agent.accounts (github_id, login, kind) VALUES ($1, $2, 'Organization') "
            "RETURNING id::text",
            github_id,
            login,
        )
        team_id = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1::uuid, $2, $2, true) RETURNING id::text",
            account_id,
            login,
        )
        if plan is not None:
            await conn.execute(
                "INSERT INTO super_agent.subscriptions "
                "(account_github_id, account_id, status, plan_key, state) "
                "VALUES ($1, $2::uuid, 'active', $3, '{}'::jsonb)",
                github_id,
                account_id,
                plan,
            )
    return account_id, team_id


async def user(pool: asyncpg.Pool, login: str, *, email: str | None = None) -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO super_agent.users (github_id, login, email) VALUES ($1, $2, $3) RETURNING id::text",
            next(_ids),
            login,
            email,
        )
    )


async def person(
    pool: asyncpg.Pool, team_id: str, login: str, role: Role, *, email: str | None = None
) -> Person:
    """A new user in the team with the role, signed in."""
    user_id = await user(pool, login, email=email)
    return await join(pool, team_id, user_id, login, role)


async def join(pool: asyncpg.Pool, team_id: str, user_id: str, login: str, role: Role) -> Person:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO super_agent.team_members (team_id, user_id, role) VALUES ($1::uuid, $2::uuid, $3)",
            team_id,
            user_id,
            role.value,
        )
        token = await sessions.create(conn, user_id, ttl=timedelta(hours=1), ip=None, user_agent="tests")
    return Person(user_id, login, team_id, role, token)


async def signed_in(pool: asyncpg.Pool, login: str) -> tuple[str, str]:
    """A user in no team yet, signed in: (user id, session token)."""
    user_id = await user(pool, login)
    async with pool.acquire() as conn:
        token = await sessions.create(conn, user_id, ttl=timedelta(hours=1), ip=None, user_agent="tests")
    return user_id, token


async def audit_actions(pool: asyncpg.Pool, team_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT action FROM super_agent.audit_entries WHERE team_id = $1::uuid ORDER BY seq", team_id
    )
    return [row["action"] for row in rows]


async def request(
    base: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{base}{path}", json=body, headers=headers, params=params) as response,
    ):
        text = await response.text()
        try:
            return response.status, await response.json(content_type=None)
        except ValueError:
            return response.status, text
