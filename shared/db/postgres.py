"""Connection pools for PostgreSQL that tolerate a database which is still starting."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)

# Failures that go away on their own while a server boots, or while the local stack or an
# operator creates the role and database just after the server starts listening.
_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionRefusedError while nothing listens yet
    TimeoutError,
    asyncpg.CannotConnectNowError,  # "the database system is starting up"
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.PostgresConnectionError,
    asyncpg.InvalidCatalogNameError,  # database not created yet
    asyncpg.InvalidAuthorizationSpecificationError,  # role not created yet
)

_FIRST_DELAY_SECONDS = 0.1
_MAX_DELAY_SECONDS = 2.0


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    command_timeout: float,
    connect_timeout: float = 10.0,
    retry_for_seconds: float = 30.0,
) -> asyncpg.Pool:
    """Open a pool, retrying with exponential backoff for up to `retry_for_seconds`.

    Every connection decodes json/jsonb columns to Python objects and encodes them back.
    The last connection error is re-raised once the time is up.
    """
    deadline = time.monotonic() + retry_for_seconds
    delay = _FIRST_DELAY_SECONDS
    attempt = 1
    while True:
        try:
            return await _open_verified_pool(dsn, min_size, max_size, command_timeout, connect_timeout)
        except _TRANSIENT_ERRORS as error:
            # A wrong password will not fix itself; retrying would only hide it.
            if isinstance(error, asyncpg.InvalidPasswordError):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                error.add_note(f"gave up connecting to PostgreSQL after {attempt} attempts")
                raise
            logger.info(
                "PostgreSQL not reachable yet (attempt %d: %s: %s); retrying in %.1fs",
                attempt,
                type(error).__name__,
                error,
                min(delay, remaining),
            )
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_DELAY_SECONDS)
            attempt += 1


async def _open_verified_pool(
    dsn: str, min_size: int, max_size: int, command_timeout: float, connect_timeout: float
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        timeout=connect_timeout,
        init=register_json_codecs,
    )
    try:
        # With min_size=0 the pool has not connected yet; prove the database is reachable now
        # rather than at the first query.
        async with pool.acquire() as connection:
            await connection.fetchval("SELECT 1")
    except BaseException:
        pool.terminate()
        raise
    return pool


async def register_json_codecs(connection: asyncpg.Connection) -> None:
    """Make json and jsonb round-trip as Python dicts/lists instead of text."""
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=_dumps, decoder=json.loads, schema="pg_catalog", format="text"
        )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
