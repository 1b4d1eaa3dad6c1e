"""Server-engine behaviour that needs no ClickHouse server (the contract suite covers the rest)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import pytz

from shared.db.clickhouse import ClickHouseError, InvalidInputError, QueryError, ServerClickHouse
from shared.db.clickhouse.native_results import native_rows_to_dicts

# Nothing listens on port 1, so connecting fails immediately.
UNREACHABLE = "clickhouse://default@127.0.0.1:1/default?connect_timeout=2"


@pytest.mark.parametrize("url", ["http://localhost:8123", "localhost:9000", "postgres://x@y/z"])
def test_only_clickhouse_urls_are_accepted(url: str) -> None:
    """URLs of other schemes are rejected when the engine is created."""
    with pytest.raises(InvalidInputError):
        ServerClickHouse(url)


async def test_unreachable_server_fails_cleanly_and_returns_clients() -> None:
    """Connection failures raise ClickHouseError (not QueryError) and never leak pool slots."""
    engine = ServerClickHouse(UNREACHABLE, pool_size=2)
    try:
        assert not await engine.ping()
        results = await asyncio.gather(*(engine.query("SELECT 1") for _ in range(6)), return_exceptions=True)
        for result in results:
            assert isinstance(result, ClickHouseError)
            assert not isinstance(result, QueryError)
    finally:
        await asyncio.wait_for(engine.close(), timeout=10)


def test_driver_rows_are_normalised_like_chdb_rows() -> None:
    """Driver date-times become ZoneInfo-aware (declared zone) or UTC (zone-less, naive in server zone)."""
    server_zone = ZoneInfo("Europe/Berlin")
    columns = [
        ("at", "DateTime64(3, 'UTC')"),
        ("local", "DateTime"),
        ("maybe", "Nullable(DateTime64(3, 'Asia/Tokyo'))"),
        ("history", "Array(DateTime64(3, 'UTC'))"),
        ("cost", "Decimal(38, 12)"),
    ]
    at = datetime(2024, 1, 1, 12, 0, tzinfo=pytz.utc)
    rows = [(at, datetime(2024, 1, 1, 13, 0), None, [at], Decimal("1.5"))]

    [row] = native_rows_to_dicts(rows, columns, server_zone)

    utc_zone = ZoneInfo("UTC")
    assert row == {
        "at": datetime(2024, 1, 1, 12, 0, tzinfo=utc_zone),
        "local": datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
        "maybe": None,
        "history": [datetime(2024, 1, 1, 12, 0, tzinfo=utc_zone)],
        "cost": Decimal("1.5"),
    }
    assert row["at"].tzinfo == utc_zone
    assert row["local"].tzinfo is UTC
