"""One deduplicated ClickHouse insert for many concurrent batches.

The event consumer handles the messages of a fetch concurrently; each hands its priced rows to
`write` and waits. Rows arriving within `max_wait` (or until `max_rows`) are written together:
one lookup of which event ids are already stored, one insert of the rest. ClickHouse prefers few
large inserts, and the handlers ack only after their rows are stored, so nothing is lost if the
process dies before a flush.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.token_costs.rows import PricedRow
from shared.metrics import TOKEN_EVENT_WRITE_SECONDS, TOKEN_EVENTS_STORED_TOTAL


class RowStore(Protocol):
    async def stored_ids(self, rows: Sequence[PricedRow]) -> set[tuple[str, str]]:
        """(team id, event id) pairs among `rows` that are stored already."""
        ...

    async def insert(self, rows: Sequence[PricedRow]) -> int: ...


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored: int
    duplicates: int
    stored_rows: list[PricedRow] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    rows: Sequence[PricedRow]
    done: asyncio.Future[WriteResult]


class TokenEventWriter:
    def __init__(self, store: RowStore, *, max_rows: int = 20_000, max_wait: float = 0.005) -> None:
        self._store = store
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._flush_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, rows: Sequence[PricedRow]) -> WriteResult:
        """Store the rows not stored before; returns once they are (or raises if the write failed)."""
        if not rows:
            return WriteResult(0, 0)
        loop = asyncio.get_running_loop()
        pending = _Pending(rows, loop.create_future())
        self._pending.append(pending)
        self._pending_rows += len(rows)
        if self._pending_rows >= self._max_rows:
            self._flush_soon(0)
        elif self._timer is None:
            self._timer = loop.call_later(self._max_wait, self._flush_soon, 0)
        return await pending.done

    def _flush_soon(self, _delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        async with self._flush_lock:
            batch, self._pending, self._pending_rows = self._pending, [], 0
            if not batch:
                return
            started = time.perf_counter()
            try:
                results = await self._store_batch(batch)
            except Exception as error:
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(error)
                return
            finally:
                TOKEN_EVENT_WRITE_SECONDS.observe(time.perf_counter() - started)
            for pending, result in zip(batch, results, strict=True):
                if not pending.done.done():
                    pending.done.set_result(result)

    async def _store_batch(self, batch: list[_Pending]) -> list[WriteResult]:
        every_row = [row for pending in batch for row in pending.rows]
        already = await self._store.stored_ids(every_row)
        fresh: list[PricedRow] = []
        results: list[WriteResult] = []
        for pending in batch:
            mine: list[PricedRow] = []
            for row in pending.rows:
                key = (row.team_id, row.event_id)
                if key in already:
                    continue
                already.add(key)  # a copy later in this flush is a duplicate too
                mine.append(row)
            fresh.extend(mine)
            results.append(WriteResult(len(mine), len(pending.rows) - len(mine), mine))
        if fresh:
            await self._store.insert(fresh)
        TOKEN_EVENTS_STORED_TOTAL.labels("stored").inc(len(fresh))
        TOKEN_EVENTS_STORED_TOTAL.labels("duplicate").inc(len(every_row) - len(fresh))
        return results

    async def close(self) -> None:
        """Flush what is waiting (shutdown)."""
        if self._pending:
            self._flush_soon(0)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
