"""In-process ClickHouse via chdb, with data kept in a directory.

chdb embeds one ClickHouse server per process: a process can have one data directory
open at a time (close it before opening another), and a directory can be open in only one
process (a second process fails to open it). In this platform only the MonitoringAgent
opens it; other agents ask the MonitoringAgent over NATS.

chdb calls block, so they run on worker threads, off the event loop. Writes (inserts, DDL,
mutations) run on one thread with their own session, one after another; reads (`query`) run on
`READ_THREADS` threads, each with a session of its own on the same directory. chdb (4.x) documents
that any number of connections to the open path may coexist and that concurrent queries from
different connections are safe and run in parallel (`chdb.connect`'s and `Session`'s docstrings).
One session shared by two threads is not, whatever its docstring says: query parameters of one
query went missing in the other ("Substitution `team` is not set"), so none is shared.
Reads once queued behind every insert: `GET /api/v1/costs` waited for the token-event writer's
inserts (tens to hundreds of milliseconds each under ingest) three times per report. A caller that
awaits its write before it reads sees the write, as before; only calls in flight together are no
longer ordered by submission. `mno_clickhouse_call_seconds` tells queueing from running.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from chdb import session as chdb_session

from shared.metrics import CLICKHOUSE_CALL_SECONDS

from .arrow_columns import arrow_schema, arrow_table
from .errors import ClickHouseClosedError, ClickHouseError, InvalidInputError, QueryError
from .identifiers import column_insert, quote_column_list, quote_table_name
from .interface import ClickHouse
from .json_results import REQUIRED_SESSION_SETTINGS, decode_json_compact
from .json_rows import INSERT_FORMAT, INSERT_SETTINGS, encode_json_rows
from .parameters import render_parameters

_Result = TypeVar("_Result")
# Reads in parallel: ClickHouse parallelises each query itself; two let a report's query run while
# another (the writer's id lookup, a second report) does.
READ_THREADS = 2


class ChdbClickHouse(ClickHouse):
    """ClickHouse running inside this process, persisting to `path` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path).resolve()
        if "?" in str(self._path):
            # chdb reads everything after `?` as engine options.
            raise InvalidInputError(f"chdb data path must not contain '?': {self._path}")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
        self._readers = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="chdb-read")
        self._session: Any = None
        self._reading = threading.local()  # each read thread's own session
        self._read_sessions: list[Any] = []
        self._settings: list[tuple[str, dict[str, str]]] = []  # SET statements executed, in order
        self._opening = threading.Lock()  # one session opened at a time (engine start-up)
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
        if _is_set(sql):
            # A session setting holds for the engine as callers see it: each read session takes it
            # before its next query.
            self._settings.append((sql, rendered))

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        rendered = render_parameters(params)
        return await self._run(
            lambda session: decode_json_compact(_query(session, sql, "JSONCompact", rendered)), read=True
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
            # Reads under way finish first, then the read session closes; writes are queued behind
            # every call already submitted, so those finish before the write session closes.
            await loop.run_in_executor(None, self._readers.shutdown, True)
            self._close_read_sessions()
            await loop.run_in_executor(self._executor, self._close_session)
        finally:
            self._executor.shutdown(wait=False)

    async def _run(self, work: Callable[[Any], _Result], *, read: bool = False) -> _Result:
        if self._closed:
            raise ClickHouseClosedError(f"chdb at {self._path} is closed")
        loop = asyncio.get_running_loop()
        executor = self._readers if read else self._executor
        call = self._read if read else self._call
        return await loop.run_in_executor(executor, call, work, time.perf_counter())

    def _call(self, work: Callable[[Any], _Result], queued_at: float) -> _Result:
        with self._opening:
            if self._session is None:
                self._session = self._open_session()
        return _timed("write", queued_at, work, self._session)

    def _read(self, work: Callable[[Any], _Result], queued_at: float) -> _Result:
        session = getattr(self._reading, "session", None)
        if session is None:
            with self._opening:
                session = self._reading.session = self._open_session()
                self._reading.settings = 0
                self._read_sessions.append(session)
        settings = self._settings[self._reading.settings :]
        for statement, params in settings:
            _query(session, statement, "Null", params)
        self._reading.settings += len(settings)
        return _timed("read", queued_at, work, session)

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

    def _close_read_sessions(self) -> None:
        sessions, self._read_sessions = self._read_sessions, []
        for session in sessions:
            session.close()


def _is_set(sql: str) -> bool:
    words = sql.split(maxsplit=1)
    return bool(words) and words[0].upper() == "SET"


def _timed(kind: str, queued_at: float, work: Callable[[Any], _Result], session: Any) -> _Result:
    started = time.perf_counter()
    CLICKHOUSE_CALL_SECONDS.labels(kind, "queued").observe(started - queued_at)
    try:
        return work(session)
    finally:
        CLICKHOUSE_CALL_SECONDS.labels(kind, "running").observe(time.perf_counter() - started)


def _query(session: Any, sql: str, output_format: str, params: dict[str, str]) -> bytes:
    try:
        result = session.query(sql, output_format, params=params or None)
    except Exception as error:
        # chdb raises ChdbError (a RuntimeError) for engine errors and ValueError for some
        # malformed input; everything it raises here means the statement failed.
        raise QueryError(str(error)) from error
    payload: bytes = result.bytes()
    return payload
