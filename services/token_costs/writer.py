"""One deduplicated ClickHouse insert for many concurrent batches (group commit).

The event consumer handles many messages at once; each hands its priced events to `write` and
waits. A flush starts as soon as the event loop is free and takes every batch waiting by then:
one lookup of which event ids are already stored, one insert of the rest. While an insert runs,
new batches wait together for the next one. So a lone batch is written at once (latency), and
under load inserts grow by themselves (ClickHouse prefers few large inserts, and each insert has a
fixed cost of tens of milliseconds with the rollup views). Handlers ack only after their events
are stored, so nothing is lost if the process dies before a flush.
"""

from __future__ import annotations

import asyncio
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
    def __init__(self, store: RowStore) -> None:
        self._store = store
        self._pending: list[_Pending] = []
        self._flush_lock = asyncio.Lock()
        self._flush_queued = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, batch: PricedBatch) -> WriteResult:
        """Store the events not stored before; returns once they are (or raises if the write failed)."""
        if not len(batch):
            return WriteResult(0, 0)
        loop = asyncio.get_running_loop()
        pending = _Pending(batch, loop.create_future())
        self._pending.append(pending)
        if not self._flush_queued:
            # Scheduled behind the handlers already runnable, so their batches join this flush.
            self._flush_queued = True
            task = loop.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await pending.done

    async def _flush(self) -> None:
        async with self._flush_lock:
            self._flush_queued = False
            batch, self._pending = self._pending, []
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
