"""Pool creation against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import pytest

from mno.stack import EmbeddedPostgres
from shared.db.migrations import migrate
from shared.db.postgres import create_pool
from tests.fixtures.stack import free_port


async def test_create_pool_waits_for_a_database_that_starts_late(stack_dir: Path) -> None:
    """create_pool keeps retrying until a server started a second later accepts connections."""
    port = free_port()
    connecting = asyncio.create_task(
        create_pool(
            f"postgresql://mno@127.0.0.1:{port}/mno",
            min_size=1,
            max_size=2,
            command_timeout=10,
            retry_for_seconds=60,
        )
    )
    postgres = EmbeddedPostgres()
    try:
        await asyncio.sleep(1.0)
        assert not connecting.done()
        await asyncio.to_thread(postgres.start, stack_dir, port)
        pool = await asyncio.wait_for(connecting, timeout=30)
        try:
            assert await pool.fetchval("SELECT current_database()") == "mno"
        finally:
            await pool.close()
    finally:
        connecting.cancel()
        await asyncio.to_thread(postgres.stop)


async def test_create_pool_gives_up_after_its_time() -> None:
    """With nothing listening, create_pool retries, then re-raises the connection error once time is up."""
    with pytest.raises(ConnectionRefusedError) as raised:
        await create_pool(
            f"postgresql://mno@127.0.0.1:{free_port()}/mno",
            min_size=1,
            max_size=1,
            command_timeout=5,
            retry_for_seconds=0.5,
        )
    (note,) = [note for note in raised.value.__notes__ if "gave up" in note]
    attempts = int(re.search(r"after (\d+) attempts", note).group(1))  # type: ignore[union-attr]
    assert attempts >= 2  # it retried before giving up


async def test_json_and_jsonb_round_trip_as_python_objects(pool: asyncpg.Pool) -> None:
    """Pool connections encode and decode json/jsonb with the json module."""
    await migrate(pool, "learning")
    payload = {"agent": "learning", "sequence": [1, 2, 3], "nested": {"ok": True}}

    await pool.execute(
        "INSERT INTO learning.canary_receipts (canary_id, deliveries, instance_id, payload)"
        " VALUES ($1, $2, $3, $4)",
        "canary-1",
        1,
        "learning-0",
        payload,
    )

    assert await pool.fetchval("SELECT payload FROM learning.canary_receipts") == payload
    assert await pool.fetchval("SELECT $1::json", [1, "two"]) == [1, "two"]
