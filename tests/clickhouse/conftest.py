"""The ClickHouse contract suite runs once per engine.

chdb always runs (a fresh data directory per test). The server engine runs only when
MNO_TEST_CLICKHOUSE_URL points at a ClickHouse server (e.g. clickhouse://default@localhost:9000);
each test then gets its own database, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from shared.db.clickhouse import ChdbClickHouse, ClickHouse, ServerClickHouse

SERVER_URL_VARIABLE = "MNO_TEST_CLICKHOUSE_URL"


def server_url() -> str:
    url = os.environ.get(SERVER_URL_VARIABLE)
    if not url:
        pytest.skip(f"set {SERVER_URL_VARIABLE} to a ClickHouse server URL to run the server engine tests")
    return url


@pytest.fixture(params=["chdb", "server"])
def engine_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def clickhouse(engine_name: str, tmp_path: Path) -> AsyncIterator[ClickHouse]:
    if engine_name == "chdb":
        engine = ChdbClickHouse(tmp_path / "chdb")
        try:
            yield engine
        finally:
            await engine.close()
        return
    url = server_url()
    database = f"mno_test_{uuid.uuid4().hex[:12]}"
    admin = ServerClickHouse(url)
    await admin.execute(f"CREATE DATABASE {database}")
    engine = ServerClickHouse(urlunsplit(urlsplit(url)._replace(path=f"/{database}")))
    try:
        yield engine
    finally:
        await engine.close()
        await admin.execute(f"DROP DATABASE IF EXISTS {database} SYNC")
        await admin.close()
