"""Which teams' plans include a plan feature.

The edge gates whole routes by `Route.feature` (`PlanBook.require_feature`); what follows serves the
capabilities a plan changes without refusing a route (a budget answers without its forecast) and the
scheduled work of other agents (forecast alerts, anomaly detection), which asks the SuperAgent, the
owner of accounts and plans, over NATS (`TEAMS_WITH_FEATURE`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from services.identity.plans import PlanBook
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode
from shared.messages.plans import TeamsWithFeature, TeamsWithFeatureQuery


async def entitled_teams(
    conn: Connection, plans: PlanBook, team_ids: Iterable[str], feature: str
) -> set[str]:
    """The live teams among `team_ids` whose account's plan includes `feature`."""
    wanted = sorted({t for t in team_ids if _is_uuid(t)})
    if not wanted:
        return set()
    rows = await conn.fetch(
        "SELECT id::text AS team_id, account_id FROM super_agent.teams "
        "WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL",
        wanted,
    )
    by_account: dict[Any, bool] = {}
    entitled: set[str] = set()
    for row in rows:
        account = row["account_id"]
        if account not in by_account:
            _, entitlements = await plans.plan_of_account(conn, account)
            by_account[account] = feature in entitlements.features
        if by_account[account]:
            entitled.add(row["team_id"])
    return entitled


async def team_has_feature(conn: Connection, plans: PlanBook, team_id: str, feature: str) -> bool:
    return team_id in await entitled_teams(conn, plans, [team_id], feature)


def serve_teams_with_feature(
    pool: Any, plans: PlanBook
) -> Callable[[TeamsWithFeatureQuery, MessageContext], Awaitable[TeamsWithFeature]]:
    """The SuperAgent's handler of `TEAMS_WITH_FEATURE`: for the platform's own work only."""

    async def handle(query: TeamsWithFeatureQuery, ctx: MessageContext) -> TeamsWithFeature:
        principal = ctx.principal
        if principal is None or "system" not in principal.roles:
            raise AgentError(ErrorCode.FORBIDDEN, "which teams hold a plan feature is asked by agents only")
        async with pool.acquire() as conn:
            found = await entitled_teams(conn, plans, query.team_ids, query.feature)
        return TeamsWithFeature(feature=query.feature, team_ids=sorted(found))

    return handle


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
