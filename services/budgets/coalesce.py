"""One run at a time per key, taking every request that waits on that key (group commit).

Admission holds the team's budget rows locked for a whole transaction, so a team's admissions run
one after another whatever we do; what we choose is how many requests each lock-holding
transaction serves. Requests that arrive while one runs wait and are served together by the next
run, so the lock is taken once per run, not once per request, and its waiting line cannot grow
with the request rate. Written here rather than taken from a library: it is twenty lines around
asyncio futures, and the writer (`services/token_costs/writer.py`) coalesces the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[K, T, R]):
    def __init__(
        self,
        run: Callable[[K, list[T]], Awaitable[Sequence[R]]],
        *,
        size: Callable[[T], int] = lambda _item: 1,
        max_size: int = 5000,
    ) -> None:
        """`run(key, items)` answers each item, in order; one run takes items up to `max_size`
        (by `size`; always at least one)."""
        self._run = run
        self._size = size
        self._max_size = max_size
        self._waiting: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._tasks: dict[K, asyncio.Task[None]] = {}

    async def submit(self, key: K, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.setdefault(key, []).append((item, future))
        if key not in self._tasks:
            self._tasks[key] = loop.create_task(self._drain(key))
        return await future

    async def _drain(self, key: K) -> None:
        try:
            while waiting := self._waiting.pop(key, None):
                # A caller that gave up before its run started is not served (nothing done for it).
                waiting = [(item, future) for item, future in waiting if not future.done()]
                taken, total = 0, 0
                while taken < len(waiting) and (
                    not taken or total + self._size(waiting[taken][0]) <= self._max_size
                ):
                    total += self._size(waiting[taken][0])
                    taken += 1
                if taken < len(waiting):
                    self._waiting.setdefault(key, [])[:0] = waiting[taken:]
                batch = waiting[:taken]
                if not batch:
                    continue
                try:
                    results = await self._run(key, [item for item, _ in batch])
                except Exception as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            del self._tasks[key]

    async def close(self) -> None:
        """Wait for the runs under way (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
