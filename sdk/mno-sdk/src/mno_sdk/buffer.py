"""The bounded hand-off between the app's threads and the one sender thread.

`put` never waits (a full buffer refuses the new item); `take` hands out batches when one is full,
when its oldest item has waited `max_wait`, when a flush asked for what was queued, or on close.
The sender reports each batch `done`, in order, which is what `wait_done` (flush) waits for.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Buffer(Generic[T]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._items: deque[tuple[float, T]] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # the sender waits here for a due batch
        self._finished = threading.Condition(self._lock)  # flushes wait here for `done`
        self._put_total = 0  # items accepted so far
        self._taken_total = 0
        self._done_total = 0
        self._flush_upto = 0  # items up to this count go out without waiting for a full batch
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T) -> bool:
        """Queue `item`; False (and nothing queued) when the buffer is full or closed."""
        with self._lock:
            if self._closed or len(self._items) >= self._capacity:
                return False
            self._items.append((time.monotonic(), item))
            self._put_total += 1
            self._ready.notify()
            return True

    def take(self, max_items: int, max_wait: float) -> list[T]:
        """Block until a batch is due and return it; [] once closed and empty."""
        with self._lock:
            while True:
                count = len(self._items)
                if count:
                    waited = time.monotonic() - self._items[0][0]
                    due = (
                        count >= max_items
                        or self._closed
                        or self._taken_total < self._flush_upto
                        or waited >= max_wait
                    )
                    if due:
                        size = min(count, max_items)
                        self._taken_total += size
                        return [self._items.popleft()[1] for _ in range(size)]
                    self._ready.wait(max_wait - waited)
                elif self._closed:
                    return []
                else:
                    self._ready.wait()

    def done(self, count: int) -> None:
        """The sender is finished (sent, failed or rejected) with the next `count` items taken."""
        with self._lock:
            self._done_total += count
            self._finished.notify_all()

    def request_flush(self) -> int:
        """Make everything queued so far due now; returns the count `wait_done` should wait for."""
        with self._lock:
            self._flush_upto = self._put_total
            self._ready.notify()
            return self._put_total

    def wait_done(self, target: int, timeout: float | None) -> bool:
        """Wait until the first `target` items accepted are done; False on timeout."""
        with self._lock:
            return self._finished.wait_for(lambda: self._done_total >= target, timeout)

    def close(self) -> int:
        """Refuse new items and make all queued ones due; returns the total to wait for."""
        with self._lock:
            self._closed = True
            self._ready.notify()
            return self._put_total
