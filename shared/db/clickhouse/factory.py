"""Choosing the engine from configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .chdb_engine import ChdbClickHouse
from .errors import InvalidInputError
from .interface import ClickHouse
from .server_engine import ServerClickHouse

Engine = Literal["chdb", "server"]


def create_clickhouse(engine: Engine, *, chdb_path: Path | None = None, url: str | None = None) -> ClickHouse:
    """`chdb` needs `chdb_path` (its data directory), `server` needs `url`."""
    if engine == "chdb":
        if chdb_path is None:
            raise InvalidInputError("the chdb engine needs chdb_path")
        return ChdbClickHouse(chdb_path)
    if engine == "server":
        if url is None:
            raise InvalidInputError("the server engine needs url")
        return ServerClickHouse(url)
    raise InvalidInputError(f"unknown ClickHouse engine {engine!r}; expected 'chdb' or 'server'")
