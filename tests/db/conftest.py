"""Real PostgreSQL for the database tests: one fresh database per test.

nats_server, postgres_dsn and stack_dir come from tests.fixtures.stack, which
tests/conftest.py registers as a plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db.postgres import create_pool


@pytest.fixture
def database_dsn(fresh_database: str) -> str:
    """DSN of a database created for this test alone and dropped afterwards."""
    return fresh_database


@pytest.fixture
async def pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_dsn, min_size=1, max_size=5, command_timeout=30)
    try:
        yield pool
    finally:
        await pool.close()
