"""Which teams' plans include a feature, asked of the SuperAgent (the owner of accounts and plans)
over NATS: the client side that the other agents' scheduled work uses (forecast alerts, anomaly
detection, the supply chain's SBOMs, alerts and download blocks). The SuperAgent's answering side
is `services.identity.plan_features`."""

from __future__ import annotations

from collections.abc import Iterable

from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.messages.envelope import Principal
from shared.messages.plans import TeamsWithFeatureQuery
from shared.messages.registry import TEAMS_WITH_FEATURE

QUERY_LIMIT = 10_000  # team ids per request (TeamsWithFeatureQuery's own bound)
FORECASTS = "forecasts"
ANOMALY_DETECTION = "anomaly_detection"
SUPPLY_CHAIN = "supply_chain"


class EntitledTeams:
    """Another agent's view: asks the SuperAgent which teams' plans include a feature. A bus error
    (the SuperAgent restarting) propagates: the scheduled work skips this run rather than serve
    teams whose plan may not include it, and the next run asks again."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def among(self, team_ids: Iterable[str], feature: str) -> set[str]:
        wanted = sorted(set(team_ids))
        ctx = MessageContext(principal=Principal.system())
        entitled: set[str] = set()
        for start in range(0, len(wanted), QUERY_LIMIT):
            query = TeamsWithFeatureQuery(feature=feature, team_ids=wanted[start : start + QUERY_LIMIT])
            answer = await self._bus.request(TEAMS_WITH_FEATURE, query, ctx)
            entitled.update(answer.team_ids)
        return entitled
