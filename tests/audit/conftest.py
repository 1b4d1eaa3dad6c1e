"""Real PostgreSQL for the audit tests: one fresh database per test, migrated like production.

postgres_dsn comes from tests.fixtures.stack, which tests/conftest.py registers as a plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.audit.models import ActorKind, AuditActor, NewAuditEntry
from shared.db.migrations import migrate
from shared.db.postgres import create_pool


@pytest.fixture
async def database_dsn(fresh_database: str) -> str:
    """DSN of a database created for this test alone, with the super_agent schema migrated."""
    connection = await asyncpg.connect(fresh_database)
    try:
        await migrate(connection, "super_agent")
    finally:
        await connection.close()
    return fresh_database


@pytest.fixture
async def pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_dsn, min_size=1, max_size=5, command_timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


async def make_team(pool: asyncpg.Pool, slug: str = "acme") -> str:
    """A local account with one team; the team's id."""
    async with pool.acquire() as conn:
        account = await conn.fetchval(
            "INSERT INTO super_agent.accounts (login, kind) VALUES ($1, 'Local') RETURNING id", slug
        )
        team: str = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1, $2, $2, true) RETURNING id::text",
            account,
            slug,
        )
    return team


@pytest.fixture
async def team(pool: asyncpg.Pool) -> str:
    return await make_team(pool, "acme")


@pytest.fixture
async def other_team(pool: asyncpg.Pool) -> str:
    return await make_team(pool, "globex")


USER = "7d0c52a4-7a6a-4d35-8a4c-3b3bd3a9b1de"

SESSION_ACTOR = AuditActor(
    kind=ActorKind.SESSION, user_id=USER, session_id="a1b2c3d4e5f60718", ip="203.0.113.7", user_agent="pytest"
)
KEY_ACTOR = AuditActor(kind=ActorKind.API_KEY, user_id=USER, api_key_id="k3yk3yk3yk3y", ip="2001:db8::1")


def new_entry(
    n: int = 0,
    *,
    action: str = "apikeys.create",
    resource_type: str = "api_key",
    resource_id: str | None = None,
    actor: AuditActor = SESSION_ACTOR,
) -> NewAuditEntry:
    """A typical entry; `n` makes its content distinct."""
    return NewAuditEntry(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id or f"key{n}",
        before=None if n % 3 == 0 else {"name": f"old {n}", "permissions": ["mesh:read"]},
        after={"name": f"key {n}", "n": n, "cost": "0.25", "limit": 12.5},
        correlation_id=f"corr-{n}",
    )
