"""Event-loop lag: how late a timer fires. A loop blocked by CPU work or a call that holds the GIL
delays every request, reply and database round trip of the process at once, which per-handler
timings cannot tell apart from slow work; this shows it directly."""

from __future__ import annotations

import asyncio
import contextlib

from shared.metrics import EVENT_LOOP_LAG_SECONDS

SAMPLE_SECONDS = 0.05


class LoopLagMonitor:
    def __init__(self, agent: str, interval: float = SAMPLE_SECONDS) -> None:
        self._histogram = EVENT_LOOP_LAG_SECONDS.labels(agent)
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            self._histogram.observe(max(0.0, loop.time() - due))
