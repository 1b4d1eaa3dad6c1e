"""Answers of an owner agent kept at the edge, per team, until the owner says they changed.

Owned by the SuperAgent. A read the edge would forward (a prompt by label, a registry page or file
location) is answered from memory when the same team asked the same thing before and nothing
changed since. The owner agent broadcasts a notice after each change commits (`PROMPTS_CHANGED`,
`REGISTRY_CHANGED`) and the edge drops that team's entries. A notice is not stored: one sent while
the edge was disconnected is lost, so every entry also expires after `ttl` seconds, which bounds how
stale an answer can be.

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
    weight: int


class TeamCache(Generic[V]):
    """At most `max_entries` answers (least recently used go first), each for `ttl` seconds; with a
    `weigh` function (an answer's size in bytes, say), also at most `max_weight` of them in all, and
    none heavier than that alone."""

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        weigh: Callable[[V], int] | None = None,
        max_weight: int | None = None,
    ) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("a cache needs a positive ttl and room for an entry")
        if (weigh is None) != (max_weight is None) or (max_weight is not None and max_weight <= 0):
            raise ValueError("a weighed cache needs both a weigh function and a positive max_weight")
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._weigh = weigh
        self._max_weight = max_weight
        self._weight = 0
        self._entries: OrderedDict[tuple[str, Hashable], _Entry[V]] = OrderedDict()
        # Each team's keys, so a team's drop costs its own entries, not a walk over every team's.
        self._keys: dict[str, set[Hashable]] = {}
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
                self._forget(team_id, key)
            self.misses += 1
            return None
        self._entries.move_to_end((team_id, key))
        self.hits += 1
        return entry.value

    def put(self, team_id: str, key: Hashable, value: V, generation: int) -> bool:
        """Store an answer read under `generation`; False (not stored) when the team changed since, or
        when the answer alone outweighs the cache."""
        if generation != self.generation(team_id):
            return False
        weight = self._weigh(value) if self._weigh is not None else 0
        if self._max_weight is not None and weight > self._max_weight:
            return False
        if (team_id, key) in self._entries:
            self._forget(team_id, key)
        self._entries[(team_id, key)] = _Entry(value, self._clock() + self._ttl, weight)
        self._weight += weight
        self._keys.setdefault(team_id, set()).add(key)
        while len(self._entries) > self._max or (
            self._max_weight is not None and self._weight > self._max_weight
        ):
            old_team, old_key = next(iter(self._entries))
            self._forget(old_team, old_key)
        return True

    def _forget(self, team_id: str, key: Hashable) -> None:
        entry = self._entries.pop((team_id, key))
        self._weight -= entry.weight
        keys = self._keys.get(team_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys[team_id]

    def drop_team(self, team_id: str) -> None:
        """The owner changed something of the team's: forget its answers, and refuse reads begun before."""
        self._generations[team_id] = self.generation(team_id) + 1
        for key in self._keys.pop(team_id, ()):
            self._weight -= self._entries.pop((team_id, key)).weight

    def clear(self) -> None:
        """Forget everything (e.g. after the bus reconnected: notices may have been missed)."""
        for team_id in set(self._keys) | set(self._generations):
            self._generations[team_id] = self.generation(team_id) + 1
        self._entries.clear()
        self._keys.clear()
        self._weight = 0

    @property
    def weight(self) -> int:
        """What the kept answers weigh together (0 without a weigh function)."""
        return self._weight

    def __len__(self) -> int:
        return len(self._entries)
