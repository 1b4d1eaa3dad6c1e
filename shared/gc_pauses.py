"""Garbage-collector pauses: how long each collection held the interpreter. A full (generation 2)
collection walks every tracked object of the process, and while it runs no coroutine, reply or
write of the process moves: on a heap of a few hundred thousand objects that is tens of
milliseconds, invisible in per-handler timings except as a tail. This shows it by generation.

The collector calls back in whatever thread allocated, in the middle of whatever that thread was
doing, possibly holding a lock. So the callback only appends to a deque (no lock, no allocation of
tracked objects beyond a tuple); the event loop moves what it finds into the histogram."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from typing import Any

from shared.metrics import GC_PAUSE_SECONDS

DRAIN_SECONDS = 1.0


class GcPauseMonitor:
    def __init__(self, agent: str) -> None:
        self._by_generation = [GC_PAUSE_SECONDS.labels(agent, str(generation)) for generation in range(3)]
        # Collections never overlap (one at a time, under the GIL), so one start time serves all.
        self._started = 0.0
        self._pauses: deque[tuple[int, float]] = deque(maxlen=10_000)
        self._task: asyncio.Task[None] | None = None

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses.append((info["generation"], time.perf_counter() - self._started))

    def drain(self) -> None:
        """Move the pauses recorded so far into the histogram."""
        while self._pauses:
            generation, seconds = self._pauses.popleft()
            self._by_generation[generation].observe(seconds)

    async def _drain_every(self) -> None:
        while True:
            await asyncio.sleep(DRAIN_SECONDS)
            self.drain()

    def start(self) -> None:
        if self._observe not in gc.callbacks:
            gc.callbacks.append(self._observe)
        self._task = asyncio.get_running_loop().create_task(self._drain_every())

    async def stop(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.drain()
