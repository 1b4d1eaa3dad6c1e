"""A few daemon threads for the prompt cache's revalidations and the experiments' exposure posts:
work the caller must not wait for. Started on first use and again in a forked child (threads do
not survive a fork); `close` lets the queued work finish within a deadline."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger("mno_sdk")

Task = Callable[[], None]


class Background:
    def __init__(
        self, workers: int = 4, *, max_pending: int = 100_000, name: str = "mno-sdk-background"
    ) -> None:
        self._workers = workers
        self._max_pending = max_pending
        self._name = name
        self._tasks: deque[Task] = deque()
        self._cond = threading.Condition()
        self._busy = 0  # tasks queued or running
        self._threads: list[threading.Thread] = []
        self._pid = -1
        self._closed = False

    def submit(self, task: Task) -> bool:
        """Queue `task`; False (not queued) when closed or `max_pending` tasks wait already."""
        with self._cond:
            if self._closed or len(self._tasks) >= self._max_pending:
                return False
            if self._pid != os.getpid():
                self._start()
            self._tasks.append(task)
            self._busy += 1
            self._cond.notify_all()  # `wait_idle` callers wait on the same condition
            return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once every queued task has run (within `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float) -> bool:
        """Run what is queued (within `timeout` seconds), then stop the threads; True when all ran."""
        finished = self.wait_idle(timeout)
        with self._cond:
            self._closed = True
            dropped = len(self._tasks)
            self._busy -= dropped
            self._tasks.clear()
            self._cond.notify_all()
        if dropped:
            log.warning("mno_sdk: closing with %d background tasks not run", dropped)
        return finished

    def _start(self) -> None:
        # In a forked child the parent's queue is the parent's: this process starts empty.
        self._pid = os.getpid()
        self._tasks.clear()
        self._busy = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"{self._name}-{i}", daemon=True)
            for i in range(self._workers)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        pid = os.getpid()
        while True:
            with self._cond:
                while not self._tasks and not self._closed and self._pid == pid:
                    self._cond.wait()
                if self._closed or self._pid != pid:
                    return
                task = self._tasks.popleft()
            try:
                task()
            except Exception:  # a bug in one task must not stop the others
                log.exception("mno_sdk: a background task failed")
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()
