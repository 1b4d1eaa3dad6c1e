"""When `mno run` restarts a crashed process, and when it stops trying (pure logic, no I/O).

Modelled on Kubernetes' restart policy: a crashed process is restarted after a delay that doubles
with each consecutive crash up to a cap (CrashLoopBackOff), and the back-off starts over once a
process has stayed up for a while. Kubernetes never gives up; a local supervisor should, because a
process that crashes again and again within moments (a broken configuration file, a port someone
took) will not heal by waiting, and the person at the terminal needs to be told why.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    """Back-off `first_delay` x `factor`^(n-1) seconds before the n-th consecutive restart, at most
    `max_delay`; a run of `stable_after` seconds ends the streak. The crash after `max_restarts`
    crashes within `window` seconds means giving up (the defaults: the 5th crash within a minute)."""

    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    stable_after: float = 60.0
    max_restarts: int = 4
    window: float = 60.0

    def __post_init__(self) -> None:
        if self.first_delay < 0 or self.factor < 1 or self.max_delay < self.first_delay:
            raise ValueError("restart delays must be non-negative, growing and capped above the first")
        if self.max_restarts < 0 or self.window <= 0 or self.stable_after <= 0:
            raise ValueError("max_restarts must not be negative, window and stable_after must be positive")

    def describe(self) -> str:
        return f"{self.max_restarts + 1} crashes within {self.window:g}s"


@dataclass(frozen=True)
class Restart:
    """Restart the process after `delay` seconds."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Stop restarting: `crashes` crashes happened within the policy's window."""

    crashes: int
    window: float


Decision = Restart | GiveUp


class RestartTracker:
    """One watched process's crash history; `clock` is injected so tests need no sleeping."""

    def __init__(self, policy: RestartPolicy | None = None, clock: Callable[[], float] = time.monotonic):
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._crashes: deque[float] = deque()
        self._streak = 0
        self._started_at: float | None = None
        self.restarts = 0

    def started(self) -> None:
        """The process was (re)started now."""
        self._started_at = self._clock()

    def restarted(self) -> None:
        """A restart of a crashed process was started now."""
        self.restarts += 1
        self.started()

    def crashed(self) -> Decision:
        """The process exited without being asked to, now: restart it after a delay, or give up."""
        now = self._clock()
        if self._started_at is not None and now - self._started_at >= self.policy.stable_after:
            self._streak = 0
        self._streak += 1
        self._crashes.append(now)
        while self._crashes and self._crashes[0] <= now - self.policy.window:
            self._crashes.popleft()
        if len(self._crashes) > self.policy.max_restarts:
            return GiveUp(crashes=len(self._crashes), window=self.policy.window)
        delay = self.policy.first_delay * self.policy.factor ** (self._streak - 1)
        return Restart(delay=min(delay, self.policy.max_delay))
