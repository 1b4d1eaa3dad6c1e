"""The edge's budget check: the MonitoringAgent (which owns budgets) admits each batch of a team
that has budgets; teams without any skip the round trip.

Which teams have budgets is a replicated set, so the hot path never asks: it is loaded with one
request (`budget_teams`), kept current by the MonitoringAgent's `budgets_changed` notices (sent
after each create or delete commits) and reloaded every `refresh_seconds`, which bounds the effect
of a notice lost while this replica was disconnected. A frozen or restarting MonitoringAgent
therefore costs teams without budgets nothing (it used to cost each batch the full request
timeout), and budgets cannot change while it is away: the set stays right. A budget written through
this replica is in the set at once.

Until the set has been loaded once (the MonitoringAgent unreachable since this edge started), a
background task tries again every `retry_load_seconds` (an edge started before the MonitoringAgent
has the set moments after the agent is up, not at the next periodic refresh), and a request waits
for one shared load attempt (at most one every `retry_load_seconds`, except for a team this replica
knows to have budgets, which always gets an attempt: the agent may be up since the last one); if
that fails,
a team this replica knows to have budgets (a notice, a write through it) gets 503 and any other is
served without: ingest stays available, and a hard limit can be passed only by what is ingested
before the set loads. (Per-team `budget_presence` questions, the former design, are no longer sent.)

When a team with budgets cannot have its batch admitted (the MonitoringAgent does not answer or
is not there), nothing is accepted and the answer is 503 with Retry-After: not 504, since nothing
was published, so the outcome is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import structlog
from nats.aio.subscription import Subscription

from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError, BusError, RemoteError
from shared.messages.budgets import (
    AdmissionItem,
    AdmissionRequest,
    AdmissionResult,
    BudgetsChanged,
    BudgetTeamsQuery,
)
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.registry import BUDGET_ADMISSION, BUDGET_TEAMS, BUDGETS_CHANGED
from shared.messages.telemetry import TokenEvent
from shared.metrics import EDGE_BUDGET_TEAMS

log = structlog.get_logger("mno.ingest.budgets")

# How long a client should wait before retrying when budgets cannot be checked: about an agent's restart.
RETRY_AFTER_SECONDS = 5


class BudgetGate:
    def __init__(self, bus: Bus, *, retry_load_seconds: float = 2.0, refresh_seconds: float = 30.0) -> None:
        self._bus = bus
        self._retry_load_seconds = retry_load_seconds
        self.refresh_seconds = refresh_seconds
        self._teams: set[str] | None = None  # the replicated set; None until loaded once
        self._heard: dict[str, bool] | None = None  # notices received while a load is in flight
        self._told: dict[str, bool] = {}  # notices and writes seen before the set was ever loaded
        self._loading: asyncio.Task[bool] | None = None
        self._next_load = 0.0
        self._subscription: Subscription | None = None
        self._first_load: asyncio.Task[None] | None = None

    @property
    def replicated(self) -> bool:
        """Whether the set is loaded (the hot path then never asks)."""
        return self._teams is not None

    async def start(self) -> None:
        """Listen for changes first, then load: a change made during the load is not missed."""
        self._subscription = await self._bus.listen(BUDGETS_CHANGED, self._changed)
        await self._load_once()
        if self._teams is None:  # the MonitoringAgent not up yet
            self._first_load = asyncio.create_task(self._until_loaded(), name="budget teams first load")

    async def _until_loaded(self) -> None:
        # Not through `_load_once`: its pause after a failure is the requests' (so that they do not
        # all wait on an agent that is away); this loop must not use it up, or a request for a team
        # known to have budgets would find no attempt allowed and answer 503 while the agent is up.
        while self._teams is None:
            await asyncio.sleep(self._retry_load_seconds)
            if self._loading is None or self._loading.done():
                self._loading = asyncio.create_task(self.refresh(), name="budget teams load")
            await asyncio.shield(self._loading)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        for task in (self._first_load, self._loading):
            if task is not None:
                task.cancel()

    async def refresh(self) -> bool:
        """Load the whole set again (at start, periodically, and when needed while unloaded); False
        when the MonitoringAgent did not answer (what is known is kept)."""
        self._heard = {}
        try:
            system = MessageContext(principal=Principal.system())
            answer = await self._bus.request(BUDGET_TEAMS, BudgetTeamsQuery(), system)
        except BusError as error:
            self._heard = None
            log.warning("teams with budgets not loaded; keeping what is known", error=error.body.message)
            return False
        teams = set(answer.team_ids)
        # A notice is sent after its commit: it is at least as new as the snapshot, so it wins.
        for team_id, has_budgets in self._heard.items():
            (teams.add if has_budgets else teams.discard)(team_id)
        self._heard = None
        self._teams = teams
        EDGE_BUDGET_TEAMS.set(len(teams))
        self._told.clear()
        return True

    async def _load_once(self, *, now: bool = False) -> None:
        """One load for every caller waiting on it; after a failure, callers do not wait for another
        attempt for `retry_load_seconds` (the periodic refresh keeps trying) unless `now`."""
        if self._loading is None or self._loading.done():
            if time.monotonic() < self._next_load and not now:
                return
            self._next_load = time.monotonic() + self._retry_load_seconds
            self._loading = asyncio.create_task(self.refresh(), name="budget teams load")
        await asyncio.shield(self._loading)

    async def _changed(self, notice: BudgetsChanged) -> None:
        if self._heard is not None:
            self._heard[notice.team_id] = notice.has_budgets
        self._set(notice.team_id, notice.has_budgets)

    def _set(self, team_id: str, has_budgets: bool) -> None:
        if self._teams is not None:
            (self._teams.add if has_budgets else self._teams.discard)(team_id)
            EDGE_BUDGET_TEAMS.set(len(self._teams))
        else:
            self._told[team_id] = has_budgets

    def written(self, team_id: str) -> None:
        """A budget of the team was written through this replica. Assume it has budgets (the safe
        side: at worst an admission that finds none) until the MonitoringAgent's notice says."""
        self._set(team_id, True)

    async def has_budgets(self, team_id: str, ctx: MessageContext) -> bool:
        """Whether the team has budgets (the proxy's pre-check skips teams without)."""
        return await self._has_budgets(team_id)

    async def _has_budgets(self, team_id: str) -> bool:
        if self._teams is None:
            # A team known to have budgets is refused without the set: worth an attempt of its own
            # (the agent may have come up since the last one failed), where any other team is served.
            await self._load_once(now=bool(self._told.get(team_id)))
        if self._teams is not None:
            return team_id in self._teams
        # Never loaded (the MonitoringAgent unreachable since this replica started): a team this
        # replica knows to have budgets fails closed; any other is served without.
        if self._told.get(team_id):
            raise _unavailable()
        log.warning("budgets unknown: monitoring agent unreachable; accepting without", team_id=team_id)
        return False

    async def admit(
        self,
        ctx: MessageContext,
        team_id: str,
        api_key_id: str | None,
        events: Sequence[TokenEvent],
        positions: Sequence[int],
    ) -> AdmissionResult:
        """Which events the team's budgets refuse (by request index); none when it has no budgets."""
        if not await self._has_budgets(team_id):
            return AdmissionResult()
        items = [
            AdmissionItem(
                index=position,
                id=event.id,
                timestamp=event.timestamp,
                provider=event.provider,
                model=event.model,
                input_tokens=event.input_tokens,
                output_tokens=event.output_tokens,
                cache_read_tokens=event.cache_read_tokens,
                cache_write_tokens=event.cache_write_tokens,
                cache_write_1h_tokens=event.cache_write_1h_tokens,
                reasoning_tokens=event.reasoning_tokens,
                user=event.user,
                project=event.project,
            )
            for event, position in zip(events, positions, strict=True)
        ]
        try:
            return await self._bus.request(
                BUDGET_ADMISSION, AdmissionRequest(api_key_id=api_key_id, items=items), ctx
            )
        except RemoteError:
            raise
        except BusError as error:
            raise _unavailable() from error


def _unavailable() -> AgentError:
    # Nothing of the batch is published after this: the outcome is known (not stored), hence 503.
    return AgentError(
        ErrorCode.UNAVAILABLE,
        "this team's budgets cannot be checked now (the monitoring agent does not answer); nothing was "
        "accepted: retry later with the same ids",
        [{"retry_after_seconds": RETRY_AFTER_SECONDS}],
    )
