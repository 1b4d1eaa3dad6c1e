"""Which plan an account is on, what it entitles the account to, and what it uses of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.identity.principals import team_of
from services.marketplace.entitlements import LimitName, check_feature, check_limit
from shared.bus.errors import AgentError
from shared.config.models import PlanEntitlements
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.identity import PlanUsage

LOCAL_PLAN = "local"


class PlanBook:
    def __init__(self, plans: Mapping[str, PlanEntitlements], default_plan: str, pool: Any = None) -> None:
        self._plans = dict(plans)
        self._default = default_plan
        self._pool = pool  # for the edge's per-request feature checks

    async def plan_of_account(self, conn: Connection, account_id: Any) -> tuple[str, PlanEntitlements]:
        """A Marketplace subscription's plan while it entitles; a local account's `local` plan (if
        configured); otherwise the default plan."""
        row = await conn.fetchrow(
            """
            SELECT a.kind, s.plan_key, s.status FROM super_agent.accounts a
            LEFT JOIN super_agent.subscriptions s ON s.account_id = a.id
            WHERE a.id = $1::uuid
            """,
            str(account_id),
        )
        key = self._default
        if row is not None and row["plan_key"] is not None and row["status"] != "cancelled":
            key = row["plan_key"]
        elif row is not None and row["kind"] == "Local" and LOCAL_PLAN in self._plans:
            key = LOCAL_PLAN
        return key, self._plans.get(key, self._plans[self._default])

    async def usage(self, conn: Connection, account_id: Any) -> dict[str, int]:
        """What the account uses now, for the limits metered so far (seats; the rest arrive with the
        capabilities that consume them)."""
        seats = await conn.fetchval(
            "SELECT count(DISTINCT m.user_id) FROM super_agent.team_members m "
            "JOIN super_agent.teams t ON t.id = m.team_id WHERE t.account_id = $1::uuid",
            str(account_id),
        )
        return {LimitName.SEATS.value: int(seats)}

    async def require_seat(self, conn: Connection, account_id: Any, user_id: str) -> None:
        """Refuse (402, naming the limit) a new member when the plan's seats are all taken."""
        already = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM super_agent.team_members m "
            "JOIN super_agent.teams t ON t.id = m.team_id "
            "WHERE t.account_id = $1::uuid AND m.user_id = $2::uuid)",
            str(account_id),
            user_id,
        )
        if already:
            return
        key, entitlements = await self.plan_of_account(conn, account_id)
        decision = check_limit(entitlements, await self.usage(conn, account_id), LimitName.SEATS, 1)
        if not decision.allowed:
            raise AgentError(
                ErrorCode.PAYMENT_REQUIRED,
                f"the {key} plan's seats are all taken: {decision.message}",
                [
                    {
                        "loc": "seats",
                        "limit": "seats",
                        "current": decision.current,
                        "maximum": decision.maximum,
                        "plan": key,
                        "message": decision.message,
                        "type": "plan_limit",
                    }
                ],
            )

    async def require_feature(self, principal: Principal, feature: str) -> None:
        """403, naming the feature and the plan, unless the principal's team's plan includes it."""
        team_id = team_of(principal)
        async with self._pool.acquire() as conn:
            account_id = await conn.fetchval(
                "SELECT account_id FROM super_agent.teams WHERE id = $1::uuid", team_id
            )
            key, entitlements = await self.plan_of_account(conn, account_id)
        decision = check_feature(entitlements, feature)
        if not decision.allowed:
            raise AgentError(
                ErrorCode.FORBIDDEN,
                f"the {key} plan does not include {feature}: {decision.message}",
                [
                    {
                        "loc": "plan",
                        "feature": feature,
                        "plan": key,
                        "message": decision.message,
                        "type": "plan_feature",
                    }
                ],
            )

    async def describe(self, conn: Connection, team_id: str) -> PlanUsage:
        account_id = await conn.fetchval(
            "SELECT account_id FROM super_agent.teams WHERE id = $1::uuid", team_id
        )
        key, entitlements = await self.plan_of_account(conn, account_id)
        return PlanUsage(
            plan=key,
            limits={name.value: getattr(entitlements, name.value) for name in LimitName},
            features=list(entitlements.features),
            usage=await self.usage(conn, account_id),
        )
