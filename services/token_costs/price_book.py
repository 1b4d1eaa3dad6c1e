"""Which prices a team's events get: the maintained source with that team's overrides on top.

Every token-event batch asks for its team's source, so sources are cached per team. A change of a
team's overrides invalidates its entry in this process at once; other replicas see it when their entry
expires (`ttl_seconds`, a few seconds). Events priced meanwhile keep the old price until re-priced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.pricing.interface import PriceSource
from services.pricing.overrides import OverridingSource, PriceOverride

DEFAULT_TTL_SECONDS = 5.0

OverrideLoader = Callable[[str], Awaitable[Sequence[PriceOverride]]]


@dataclass(frozen=True, slots=True)
class _Entry:
    source: PriceSource
    expires_at: float


class PriceBook:
    def __init__(
        self,
        load_overrides: OverrideLoader,
        base: PriceSource,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_overrides = load_overrides
        self._base = base
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Task[PriceSource]] = {}
        # Bumped by `invalidate`: a load that started before the change must not be cached after it.
        self._generation: dict[str, int] = {}

    @property
    def base(self) -> PriceSource:
        return self._base

    async def source_for(self, team_id: str, *, fresh: bool = False) -> PriceSource:
        """The team's source; `fresh` reads the overrides now instead of trusting the cache."""
        entry = self._entries.get(team_id)
        if not fresh and entry is not None and entry.expires_at > self._clock():
            return entry.source
        loading = None if fresh else self._loading.get(team_id)
        if loading is None:
            loading = asyncio.get_running_loop().create_task(
                self._load(team_id, self._generation.get(team_id, 0))
            )
            if not fresh:
                # Concurrent batches of a team whose entry expired share one load (single flight).
                self._loading[team_id] = loading
                loading.add_done_callback(lambda task: self._forget_load(team_id, task))
        # Shielded: one cancelled waiter must not cancel the load the others wait for.
        return await asyncio.shield(loading)

    def invalidate(self, team_id: str) -> None:
        """The team's overrides changed: the next batch loads them again."""
        self._generation[team_id] = self._generation.get(team_id, 0) + 1
        self._entries.pop(team_id, None)
        self._loading.pop(team_id, None)

    async def _load(self, team_id: str, generation: int) -> PriceSource:
        overrides = await self._load_overrides(team_id)
        source = OverridingSource(self._base, overrides) if overrides else self._base
        if self._generation.get(team_id, 0) == generation:
            self._entries[team_id] = _Entry(source, self._clock() + self._ttl)
        return source

    def _forget_load(self, team_id: str, task: asyncio.Task[PriceSource]) -> None:
        if self._loading.get(team_id) is task:
            del self._loading[team_id]
        if not task.cancelled():
            task.exception()  # its waiters see a failure; retrieved here so none goes unreported
