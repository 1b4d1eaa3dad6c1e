"""Answers of an owner agent kept at the edge, per team, until the owner says they changed.

Owned by the SuperAgent. A read the edge would forward (a prompt by label, later a registry page) is
answered from memory when the same team asked the same thing before and nothing changed since. The
owner agent broadcasts a notice after each change commits (`PROMPTS_CHANGED`, ...) and the edge
drops that team's entries. A notice is not stored: one sent while the edge was disconnected is
lost, so every entry also expires after `ttl` seconds, which bounds how stale an answer can be.

A read in flight when a change lands could store the older answer after the drop; each team has a
generation, bumped by every drop, and an answer is stored only if its team's generation is the one
its read started under.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    expires: float


class TeamCache(Generic[V]):
    """At most `max_entries` answers (least recently used go first), each for `ttl` seconds."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("a cache needs a positive ttl and room for an entry")
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, Hashable], _Entry[V]] = OrderedDict()
        self._generations: dict[str, int] = {}
        self.hits = 0
        self.misses = 0

    def generation(self, team_id: str) -> int:
        """Take before the read whose answer `put` will store."""
        return self._generations.get(team_id, 0)

    def get(self, team_id: str, key: Hashable) -> V | None:
        entry = self._entries.get((team_id, key))
        if entry is None or entry.expires <= self._clock():
            if entry is not None:
                del self._entries[(team_id, key)]
            self.misses += 1
            return None
        self._entries.move_to_end((team_id, key))
        self.hits += 1
        return entry.value

    def put(self, team_id: str, key: Hashable, value: V, generation: int) -> bool:
        """Store an answer read under `generation`; False (not stored) when the team changed since."""
        if generation != self.generation(team_id):
            return False
        self._entries[(team_id, key)] = _Entry(value, self._clock() + self._ttl)
        self._entries.move_to_end((team_id, key))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return True

    def drop_team(self, team_id: str) -> None:
        """The owner changed something of the team's: forget its answers, and refuse reads begun before."""
        self._generations[team_id] = self.generation(team_id) + 1
        for key in [k for k in self._entries if k[0] == team_id]:
            del self._entries[key]

    def clear(self) -> None:
        """Forget everything (e.g. after the bus reconnected: notices may have been missed)."""
        for team_id in {k[0] for k in self._entries} | set(self._generations):
            self._generations[team_id] = self.generation(team_id) + 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
