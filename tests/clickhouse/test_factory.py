"""Choosing an engine by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.db.clickhouse import ChdbClickHouse, InvalidInputError, ServerClickHouse, create_clickhouse


async def test_factory_builds_each_engine(tmp_path: Path) -> None:
    """'chdb' gives a ChdbClickHouse on the path, 'server' a ServerClickHouse (which connects lazily)."""
    chdb = create_clickhouse("chdb", chdb_path=tmp_path / "chdb", url=None)
    server = create_clickhouse("server", chdb_path=None, url="clickhouse://default@127.0.0.1:1/default")
    try:
        assert isinstance(chdb, ChdbClickHouse)
        assert chdb.path == (tmp_path / "chdb").resolve()
        assert isinstance(server, ServerClickHouse)
    finally:
        await chdb.close()
        await server.close()


@pytest.mark.parametrize(
    ("engine", "options"),
    [("chdb", {"url": "clickhouse://x"}), ("server", {"chdb_path": Path("x")}), ("duckdb", {})],
)
def test_factory_rejects_missing_settings_and_unknown_engines(engine: Any, options: dict[str, Any]) -> None:
    """An engine without its required setting, or an unknown engine name, raises InvalidInputError."""
    with pytest.raises(InvalidInputError):
        create_clickhouse(engine, **options)
