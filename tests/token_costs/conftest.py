"""A migrated in-process ClickHouse (chdb) per test: one process can hold one chdb directory at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.db.clickhouse import ChdbClickHouse, ClickHouse
from shared.db.clickhouse.migrations import apply_migrations


@pytest.fixture
async def clickhouse(tmp_path: Path) -> AsyncIterator[ClickHouse]:
    engine = ChdbClickHouse(tmp_path / "chdb")
    try:
        await apply_migrations(engine)
        yield engine
    finally:
        await engine.close()
