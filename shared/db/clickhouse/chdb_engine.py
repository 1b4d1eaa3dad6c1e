"""In-process ClickHouse via chdb, with data kept in a directory.

chdb embeds one ClickHouse server per process: a process can have one data directory
open at a time (close it before opening another), and a directory can be open in only one
process (a second process fails to open it). In this platform only the MonitoringAgent
opens it; other agents ask the MonitoringAgent over NATS.

Every chdb call runs on one dedicated worker thread: calls block, so they must stay off the
event loop, and a single thread serialises them, which is all chdb needs for safety.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from chdb import session as chdb_session

from .arrow_columns import arrow_schema, arrow_table
from .errors import ClickHouseClosedError, ClickHouseError, InvalidInputError, QueryError
from .identifiers import column_insert, quote_column_list, quote_table_name
from .interface import ClickHouse
from .json_results import REQUIRED_SESSION_SETTINGS, decode_json_compact
from .json_rows import INSERT_FORMAT, INSERT_SETTINGS, encode_json_rows
from .parameters import render_parameters

_Result = TypeVar("_Result")


class ChdbClickHouse(ClickHouse):
    """ClickHouse running inside this process, persisting to `path` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path).resolve()
        if "?" in str(self._path):
            # chdb reads everything after `?` as engine options.
            raise InvalidInputError(f"chdb data path must not contain '?': {self._path}")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
        self._session: Any = None
        self._closed = False
        # Column types per table for column-wise inserts; dropped when an insert fails, so a
        # table altered since is described again.
        self._described: dict[str, dict[str, str]] = {}

    @property
    def path(self) -> Path:
        return self._path

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        rendered = render_parameters(params)
        await self._run(lambda session: _query(session, sql, "Null", rendered))

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        rendered = render_parameters(params)
        return await self._run(
            lambda session: decode_json_compact(_query(session, sql, "JSONCompact", rendered))
        )

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        head = (
            f"INSERT INTO {quote_table_name(table)} ({quote_column_list(columns)})"
            f" SETTINGS {INSERT_SETTINGS} FORMAT {INSERT_FORMAT}\n"
        )
        if not rows:
            return 0
        width = len(columns)

        def insert_rows(session: Any) -> int:
            # Rendering is CPU work, so it also happens on the worker thread, not the loop.
            _query(session, head + encode_json_rows(rows, width), "Null", {})
            return len(rows)

        return await self._run(insert_rows)

    async def insert_columns(
        self,
        table: str,
        columns: Mapping[str, Sequence[Any]],
        *,
        settings: Mapping[str, int] | None = None,
    ) -> int:
        count, head = column_insert(table, columns, settings)
        statement = head + " SELECT * FROM Python(mno_insert_block)"
        names = list(columns)
        if count == 0:
            return 0
        described = self._described.get(table)
        if described is None or not described.keys() >= set(names):
            rows = await self.query(f"DESCRIBE TABLE {quote_table_name(table)}")
            described = self._described[table] = {row["name"]: row["type"] for row in rows}
        schema = arrow_schema(described, names)

        def insert_block(session: Any) -> int:
            # chdb's Python() table function finds the table by this local's name, reading the
            # Arrow buffers in place. Conversion happens here, off the event loop.
            mno_insert_block = arrow_table(columns, schema)  # noqa: F841 (read by name by chdb)
            try:
                _query(session, statement, "Null", {})
            except QueryError:
                self._described.pop(table, None)
                raise
            return count

        return await self._run(insert_block)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            # Queued behind every call already submitted, so those finish first.
            await loop.run_in_executor(self._executor, self._close_session)
        finally:
            self._executor.shutdown(wait=False)

    async def _run(self, work: Callable[[Any], _Result]) -> _Result:
        if self._closed:
            raise ClickHouseClosedError(f"chdb at {self._path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[Any], _Result]) -> _Result:
        if self._session is None:
            self._session = self._open_session()
        return work(self._session)

    def _open_session(self) -> Any:
        try:
            self._path.mkdir(parents=True, exist_ok=True)
            session = chdb_session.Session(str(self._path))  # type: ignore[no-untyped-call]
        except Exception as error:
            raise ClickHouseError(
                f"cannot open chdb data directory {self._path}: {error}. A directory can be open in one"
                " process only, and a process can have only one chdb directory open at a time."
            ) from error
        for name, value in REQUIRED_SESSION_SETTINGS.items():
            _query(session, f"SET {name} = {value}", "Null", {})
        return session

    def _close_session(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            session.close()


def _query(session: Any, sql: str, output_format: str, params: dict[str, str]) -> bytes:
    try:
        result = session.query(sql, output_format, params=params or None)
    except Exception as error:
        # chdb raises ChdbError (a RuntimeError) for engine errors and ValueError for some
        # malformed input; everything it raises here means the statement failed.
        raise QueryError(str(error)) from error
    payload: bytes = result.bytes()
    return payload
