"""Advisory locks: one replica at a time does a piece of periodic work."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any


def lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def try_advisory_lock(pool: Any, name: str) -> AsyncIterator[bool]:
    """Yields True while holding the session-level lock `name`; False (at once) when another holds it."""
    async with pool.acquire() as conn:
        held = await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(name))
        try:
            yield bool(held)
        finally:
            if held:
                await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(name))
