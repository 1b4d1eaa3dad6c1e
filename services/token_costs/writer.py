"""One deduplicated ClickHouse insert for many concurrent batches (group commit).

The event consumer handles many messages at once; each hands its priced events to `write` and
waits. A flush takes every batch waiting when it starts: one lookup of which event ids are already
stored, one insert of the rest. It starts once `max_rows` events wait or the oldest has waited
`max_delay` seconds, and never while the previous one runs. Every insert costs tens of
milliseconds of CPU whatever its size (the rollup views are planned per insert, and each insert
makes parts that ClickHouse merges later), so at 2,000 events/s one insert per request would take
a whole core; a short delay makes inserts few and large, and under load they grow by themselves.
Handlers ack only after their events are stored, so nothing is lost if the process dies first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.token_costs.rows import PricedBatch, merge
from shared.metrics import TOKEN_EVENT_WRITE_SECONDS, TOKEN_EVENTS_STORED_TOTAL


class RowStore(Protocol):
    async def stored_ids(self, batches: Sequence[PricedBatch]) -> set[tuple[str, str]]:
        """(team id, event id) pairs among the batches' events that are stored already."""
        ...

    async def insert(self, columns: dict[str, list[Any]]) -> int: ...


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored: int
    duplicates: int


@dataclass(slots=True)
class _Pending:
    batch: PricedBatch
    done: asyncio.Future[WriteResult]


class TokenEventWriter:
    def __init__(self, store: RowStore, *, max_delay: float = 0.1, max_rows: int = 5000) -> None:
        self._store = store
        self._max_delay = max_delay
        self._max_rows = max_rows
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._oldest = 0.0  # loop time the oldest pending batch arrived
        self._full = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._flush_queued = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, batch: PricedBatch) -> WriteResult:
        """Store the events not stored before; returns once they are (or raises if the write failed)."""
        if not len(batch):
            return WriteResult(0, 0)
        loop = asyncio.get_running_loop()
        pending = _Pending(batch, loop.create_future())
        if not self._pending:
            self._oldest = loop.time()
        self._pending.append(pending)
        self._pending_rows += len(batch)
        if self._pending_rows >= self._max_rows:
            self._full.set()
        if not self._flush_queued:
            self._flush_queued = True
            task = loop.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await pending.done

    async def _flush(self) -> None:
        async with self._flush_lock:
            wait = self._oldest + self._max_delay - asyncio.get_running_loop().time()
            if wait > 0 and not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), wait)
            self._flush_queued = False
            self._full.clear()
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

    async def _store_batch(self, pending: list[_Pending]) -> list[WriteResult]:
        batches = [item.batch for item in pending]
        already = await self._store.stored_ids(batches)
        fresh: list[PricedBatch] = []
        results: list[WriteResult] = []
        for batch in batches:
            keep: list[int] = []
            for index, event_id in enumerate(batch.event_ids):
                key = (batch.team_id, event_id)
                if key in already:
                    continue
                already.add(key)  # a copy later in this flush is a duplicate too
                keep.append(index)
            fresh.append(batch if len(keep) == len(batch) else batch.select(keep))
            results.append(WriteResult(len(keep), len(batch) - len(keep)))
        stored = sum(result.stored for result in results)
        if stored:
            await self._store.insert(merge(fresh))
        TOKEN_EVENTS_STORED_TOTAL.labels("stored").inc(stored)
        TOKEN_EVENTS_STORED_TOTAL.labels("duplicate").inc(sum(result.duplicates for result in results))
        return results

    async def close(self) -> None:
        """Wait for the flushes under way (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
