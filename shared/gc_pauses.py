"""Garbage-collector pauses: how long each collection held the interpreter. A full (generation 2)
collection walks every tracked object of the process, and while it runs no coroutine, reply or
write of the process moves: on a heap of a few hundred thousand objects that is tens of
milliseconds, invisible in per-handler timings except as a tail. This shows it by generation."""

from __future__ import annotations

import gc
import time
from typing import Any

from shared.metrics import GC_PAUSE_SECONDS


class GcPauseMonitor:
    def __init__(self, agent: str) -> None:
        self._by_generation = [GC_PAUSE_SECONDS.labels(agent, str(generation)) for generation in range(3)]
        # Collections never overlap (one at a time, under the GIL), so one start time serves all.
        self._started = 0.0

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._by_generation[info["generation"]].observe(time.perf_counter() - self._started)

    def start(self) -> None:
        if self._observe not in gc.callbacks:
            gc.callbacks.append(self._observe)

    def stop(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)
