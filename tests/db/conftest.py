"""Real PostgreSQL for the database tests: one fresh database per test.

nats_server, postgres_dsn and stack_dir come from tests.fixtures.stack, which
tests/conftest.py registers as a plugin.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.db.postgres import create_pool


@pytest.fixture
async def database_dsn(postgres_dsn: str) -> AsyncIterator[str]:
    """DSN of a database created for this test alone and dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(postgres_dsn)._replace(path=f"/{name}"))
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_dsn, min_size=1, max_size=5, command_timeout=30)
    try:
        yield pool
    finally:
        await pool.close()
