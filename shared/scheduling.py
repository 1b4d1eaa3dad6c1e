"""Periodic jobs inside an agent: run every N seconds (with jitter, so replicas drift apart), log
and count failures, never die of one. Jobs that must run on one replica at a time take a
PostgreSQL advisory lock themselves (`shared.db.locks`)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

import structlog

from shared.metrics import JOB_RUNS_TOTAL, JOB_SECONDS

log = structlog.get_logger("mno.jobs")


class PeriodicJob:
    def __init__(self, agent: str, name: str, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        self.agent = agent
        self.name = name
        self.interval = interval
        self._job = job
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"job {self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> None:
        started = time.perf_counter()
        outcome = "ok"
        try:
            await self._job()
        except Exception:
            outcome = "error"
            log.exception("periodic job failed", job=self.name)
        finally:
            JOB_RUNS_TOTAL.labels(self.agent, self.name, outcome).inc()
            JOB_SECONDS.labels(self.agent, self.name, outcome).observe(time.perf_counter() - started)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval * random.uniform(0.8, 1.2))  # jitter: replicas drift apart
            await self.run_once()
