"""Tell a team, once per model, that calls of that model have no price (their cost counts as 0).

Both places that price a call report here: the consumer that stores events, and budget admission
(which may refuse such a call before it is ever stored). The alert's dedup key
(`unpriced_model:<provider>/<model>`) makes it go out once per team and model across replicas and
restarts; this process also remembers what it reported, so a stream of unpriced calls costs one
alert insert rather than one per batch. Alerts are raised in the background: pricing never waits
for a channel.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

import structlog

from shared.messages.alerts import Alert, AlertKind, AlertSeverity

log = structlog.get_logger("mno.token_costs.unpriced")
# (team, provider, model) triples remembered as reported; older ones are forgotten first.
MEMORY = 10_000
_MAX_DEDUP_KEY = 300


class AlertRaiser(Protocol):
    async def raise_alert(self, team_id: str, alert: Alert) -> bool: ...


def dedup_key(provider: str, model: str) -> str:
    key = f"unpriced_model:{provider}/{model}"
    if len(key) <= _MAX_DEDUP_KEY:
        return key
    # Model names may be up to 256 characters: a long one is keyed by its digest instead.
    return f"unpriced_model:{provider}/sha256:{hashlib.sha256(model.encode()).hexdigest()}"


def unpriced_alert(provider: str, model: str, reason: str) -> Alert:
    """The alert of a model seen for the first time without a price."""
    return Alert(
        kind=AlertKind.UNPRICED_MODEL,
        severity=AlertSeverity.WARNING,
        title=f"No price for {provider}/{model}"[:200],
        text=(
            f"Calls of {provider}/{model} have no price: they are stored with cost 0 and counted as "
            "unpriced_events in cost reports. Hard-limited budgets refuse them unless set to "
            "unpriced: allow. Add a price override (POST /api/v1/price-overrides) to price new calls, "
            "then re-price (POST /api/v1/costs/reprice) to price the stored ones."
        ),
        details={"provider": provider, "model": model, "reason": reason[:500]},
        dedup_key=dedup_key(provider, model),
    )


class UnpricedModelAlerts:
    def __init__(self, alerts: AlertRaiser, memory: int = MEMORY) -> None:
        self._alerts = alerts
        self._memory = memory
        self._reported: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def seen(self, team_id: str, models: Iterable[tuple[str, str, str]]) -> None:
        """Calls of `(provider, model, reason)` had no price: alert the team for each model it was
        not alerted of yet (in the background)."""
        fresh: dict[tuple[str, str], str] = {}
        for provider, model, reason in models:
            key = (team_id, provider, model)
            if key in self._reported or (provider, model) in fresh:
                continue
            fresh[(provider, model)] = reason
            self._remember(key)
        if not fresh:
            return
        task = asyncio.get_running_loop().create_task(self._raise(team_id, fresh))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember(self, key: tuple[str, str, str]) -> None:
        self._reported[key] = None
        while len(self._reported) > self._memory:
            self._reported.popitem(last=False)

    async def _raise(self, team_id: str, models: dict[tuple[str, str], str]) -> None:
        for (provider, model), reason in models.items():
            try:
                await self._alerts.raise_alert(team_id, unpriced_alert(provider, model, reason))
            except Exception:
                # Forget it, so the next unpriced call of the model tries again.
                self._reported.pop((team_id, provider, model), None)
                log.exception("unpriced-model alert not raised", provider=provider, model=model)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
