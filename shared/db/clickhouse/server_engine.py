"""ClickHouse server access through clickhouse-driver (native TCP protocol).

The driver is blocking and a `Client` must not be used by two threads at once, so calls run
on a thread pool and each call borrows a client from a small pool for its whole duration.

Parameters are bound on the server: the driver's `server_side_params` setting sends
`{name:Type}` values as protocol parameters instead of formatting them into the SQL. The
driver's own value conversion is not used (it drops sub-second precision, sends None as the
text NULL and writes dicts as Python reprs): values are rendered by `parameters.py`, exactly
as for chdb, and wrapped so the driver forwards that text unchanged (`wire_parameters`).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import tzinfo
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from clickhouse_driver import Client
from clickhouse_driver import errors as driver_errors
from clickhouse_driver.util.helpers import parse_url

from .errors import ClickHouseClosedError, ClickHouseError, InvalidInputError, QueryError
from .identifiers import column_insert, quote_column_list, quote_table_name
from .interface import ClickHouse
from .native_results import native_rows_to_dicts
from .parameters import escape_text, render_parameters

_Result = TypeVar("_Result")
_SCHEMES = frozenset({"clickhouse", "clickhouses"})


class WireParameter:
    """A parameter whose ClickHouse text is already rendered.

    With `server_side_params`, clickhouse-driver sends a parameter as a quoted literal that
    the server unquotes before parsing it as the declared type. For objects it has no
    conversion for, the driver sends `'{str(obj)}'`, so `str` returns the escaped text.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return escape_text(self.text)

    def __repr__(self) -> str:
        return f"WireParameter({self.text!r})"


def wire_parameters(params: Mapping[str, Any] | None) -> dict[str, WireParameter]:
    return {name: WireParameter(text) for name, text in render_parameters(params).items()}


class ServerClickHouse(ClickHouse):
    """A ClickHouse server at `url`, e.g. `clickhouse://user:password@host:9000/database`.

    Query-string options are passed to clickhouse-driver (`?secure=1&compression=lz4`).
    At most `pool_size` statements run at once; further calls wait for a free client.
    """

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        if urlsplit(url).scheme not in _SCHEMES:
            raise InvalidInputError("ClickHouse server URL must start with clickhouse:// or clickhouses://")
        if pool_size < 1:
            raise InvalidInputError(f"pool_size must be at least 1, got {pool_size}")
        host, options = parse_url(url)
        settings = dict(options.pop("settings", {}))
        settings["server_side_params"] = True
        self._new_client: Callable[[], Client] = lambda: Client(host, settings=settings, **options)
        self._description = f"{host}:{options.get('port', 'default port')}"
        self._pool_size = pool_size
        self._idle: list[Client] = []
        self._slots = asyncio.Semaphore(pool_size)
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="clickhouse-driver")
        self._closed = False

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        wire = wire_parameters(params) or None
        await self._run(lambda client: client.execute(sql, wire))

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        wire = wire_parameters(params) or None

        def run_query(client: Client) -> list[dict[str, Any]]:
            rows, columns = client.execute(sql, wire, with_column_types=True)
            return native_rows_to_dicts(rows, columns, _server_zone(client))

        return await self._run(run_query)

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        statement = f"INSERT INTO {quote_table_name(table)} ({quote_column_list(columns)}) VALUES"
        width = len(columns)
        for number, row in enumerate(rows):
            if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) != width:
                raise InvalidInputError(f"row {number} must be a sequence of {width} values, got {row!r}")
        if not rows:
            return 0
        batch = rows if isinstance(rows, list) else list(rows)

        def insert_rows(client: Client) -> int:
            # The driver sends rows column-wise in native format: no text rendering at all.
            inserted: int = client.execute(statement, batch)
            return inserted

        return await self._run(insert_rows)

    async def insert_columns(
        self,
        table: str,
        columns: Mapping[str, Sequence[Any]],
        *,
        settings: Mapping[str, int] | None = None,
    ) -> int:
        count, head = column_insert(table, columns, settings)
        statement = head + " VALUES"
        if count == 0:
            return 0
        data = [values if isinstance(values, list) else list(values) for values in columns.values()]

        def insert_block(client: Client) -> int:
            client.execute(statement, data, columnar=True)
            return count

        return await self._run(insert_block)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Holding every slot means no call is still using a client.
        for _ in range(self._pool_size):
            await self._slots.acquire()
        idle, self._idle = self._idle, []
        loop = asyncio.get_running_loop()
        try:
            for client in idle:
                await loop.run_in_executor(self._executor, client.disconnect)
        finally:
            self._executor.shutdown(wait=False)
            for _ in range(self._pool_size):
                self._slots.release()

    async def _run(self, work: Callable[[Client], _Result]) -> _Result:
        if self._closed:
            raise ClickHouseClosedError(f"ClickHouse server connection to {self._description} is closed")
        await self._slots.acquire()
        try:
            if self._closed:
                raise ClickHouseClosedError(f"ClickHouse server connection to {self._description} is closed")
            client = self._idle.pop() if self._idle else self._new_client()
            future = asyncio.get_running_loop().run_in_executor(self._executor, work, client)
        except BaseException:
            self._slots.release()
            raise
        # The client goes back only once the thread is done with it, even if the caller is
        # cancelled meanwhile; shielding keeps cancellation from detaching the two.
        future.add_done_callback(lambda done: self._release(client, done))
        try:
            return await asyncio.shield(future)
        except driver_errors.ServerException as error:
            raise QueryError(str(error)) from error
        except (driver_errors.TypeMismatchError, TypeError, ValueError, OverflowError, struct.error) as error:
            # Raised while the driver encodes insert values of the wrong type or range.
            raise QueryError(f"cannot encode values for ClickHouse: {error!r}") from error
        except driver_errors.Error as error:
            raise ClickHouseError(f"ClickHouse server {self._description}: {error}") from error

    def _release(self, client: Client, done: asyncio.Future[Any]) -> None:
        error = None if done.cancelled() else done.exception()
        if (error is not None and not isinstance(error, driver_errors.ServerException)) or self._closed:
            # After a network, protocol or encoding error the connection state is unknown.
            self._executor.submit(client.disconnect)
        else:
            self._idle.append(client)
        self._slots.release()


def _server_zone(client: Client) -> tzinfo:
    zone_name: str = client.connection.server_info.get_timezone()
    return ZoneInfo(zone_name)
