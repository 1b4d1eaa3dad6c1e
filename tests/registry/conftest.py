"""What the registry's end-to-end tests share: a small pool on the session's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.db.postgres import create_pool


@pytest.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[Any]:
    """A pool on the session's PostgreSQL (the mesh's database), closed after the test."""
    pool = await create_pool(postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        yield pool
    finally:
        await pool.close()
