"""The one ClickHouse API the platform codes against; engines differ only in where SQL runs.

Parameters are ClickHouse server-side placeholders, `{name:Type}`, on every engine, so the
same SQL text runs unchanged in-process (chdb) and against a server::

    await ch.query(
        "SELECT model, sum(cost) AS cost FROM token_events"
        " WHERE tenant = {tenant:String} AND ts >= {since:DateTime64(3, 'UTC')} GROUP BY model",
        {"tenant": tenant, "since": since},
    )

Values are parsed by ClickHouse as data of the declared type, never as SQL. Table and
column names cannot be parameters; `insert` validates them (`identifiers.py`).

Values come back as clickhouse-driver returns them: int, float, str, bool, Decimal (exact),
date, UUID, list (Array), dict (Map, named Tuple), tuple (Tuple), None (NULL), and aware
datetimes (in the column's declared zone, or UTC). Do not add a FORMAT clause to queries.
A naive datetime, inserted or bound, is wall-clock time in the column's / placeholder's zone.

Every failure is a `ClickHouseError`: `QueryError` when the engine rejects a statement or a
value, `InvalidInputError` (and its subclasses) when the call is refused before reaching it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self


class ClickHouse(abc.ABC):
    """Async access to one ClickHouse database; safe to share between asyncio tasks."""

    @abc.abstractmethod
    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows (DDL, INSERT ... SELECT, ALTER, ...)."""

    @abc.abstractmethod
    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dicts keyed by column name."""

    @abc.abstractmethod
    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Insert `rows` (values in `columns` order) in one statement; returns the row count."""

    @abc.abstractmethod
    async def insert_columns(
        self,
        table: str,
        columns: Mapping[str, Sequence[Any]],
        *,
        settings: Mapping[str, int] | None = None,
    ) -> int:
        """Insert column-wise data (name -> values, all of one length) in one statement; returns
        the row count. The bulk path: no engine renders or parses rows as text. Column types are
        those `insert` takes, except Tuple, UUID, IP and Enum columns (use `insert` for those).
        `settings` are ClickHouse settings of this insert (e.g. `optimize_on_insert`)."""

    async def ping(self) -> bool:
        """True when the engine answers a trivial query; never raises (it backs readiness probes).
        A closed engine's query raises, so it answers False too."""
        try:
            rows = await self.query("SELECT 1 AS ok")
        except Exception:
            return False
        return rows == [{"ok": 1}]

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the engine; waits for calls in flight. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
