"""Which plan an account is on, what it entitles the account to, and what it uses of it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from services.marketplace.entitlements import LimitName, check_feature, check_limit, seat_limit
from services.marketplace.state_machine import PlanSnapshot
from shared.bus.errors import AgentError
from shared.config.models import PlanEntitlements
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.identity import PlanUsage
from shared.principals import team_of

LOCAL_PLAN = "local"


def month_start(at: datetime) -> date:
    """The first day of `at`'s month (UTC): the period of monthly limits."""
    return at.astimezone(UTC).date().replace(day=1)


class PlanBook:
    """The plans and what each entitles to. The edge's per-request feature checks (`require_feature`)
    remember a team's plan for `cache_seconds`, as verified API keys are remembered
    (`auth.api_key_cache_seconds`): a plan change through another replica, or straight in the database,
    reaches this replica's checks within that; 0 reads the database on every request."""

    MAX_CACHED = 10_000

    def __init__(
        self,
        plans: Mapping[str, PlanEntitlements],
        default_plan: str,
        pool: Any = None,
        *,
        cache_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._plans = dict(plans)
        self._default = default_plan
        self._pool = pool  # for the edge's per-request feature checks
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._team_plans: dict[str, tuple[float, str, PlanEntitlements]] = {}

    async def plan_of_account(self, conn: Connection, account_id: Any) -> tuple[str, PlanEntitlements]:
        """A Marketplace subscription's plan while it entitles; a local account's `local` plan (if
        configured); otherwise the default plan. A per-seat purchase's seats are its limit."""
        row = await conn.fetchrow(
            """
            SELECT a.kind, s.plan_key, s.status, s.state -> 'plan' AS plan FROM super_agent.accounts a
            LEFT JOIN super_agent.subscriptions s ON s.account_id = a.id
            WHERE a.id = $1::uuid
            """,
            str(account_id),
        )
        key = self._default
        seats = None
        if row is not None and row["plan_key"] is not None and row["status"] != "cancelled":
            key = row["plan_key"]
            if row["plan"] is not None:
                seats = seat_limit(PlanSnapshot.model_validate(row["plan"]))
        elif row is not None and row["kind"] == "Local" and LOCAL_PLAN in self._plans:
            key = LOCAL_PLAN
        entitlements = self._plans.get(key, self._plans[self._default])
        if seats is not None:
            entitlements = entitlements.model_copy(update={"seats": seats})
        return key, entitlements

    async def usage(self, conn: Connection, account_id: Any, at: datetime | None = None) -> dict[str, int]:
        """What the account uses now, for the limits metered so far (seats, monthly token events;
        the rest arrive with the capabilities that consume them)."""
        seats = await conn.fetchval(
            "SELECT count(DISTINCT m.user_id) FROM super_agent.team_members m "
            "JOIN super_agent.teams t ON t.id = m.team_id WHERE t.account_id = $1::uuid",
            str(account_id),
        )
        period = month_start(at or datetime.now(UTC))
        events = await conn.fetchval(
            "SELECT used FROM super_agent.metered_usage "
            "WHERE account_id = $1::uuid AND metric = $2 AND period_start = $3",
            str(account_id),
            LimitName.MONTHLY_TOKEN_EVENTS.value,
            period,
        )
        return {LimitName.SEATS.value: int(seats), LimitName.MONTHLY_TOKEN_EVENTS.value: int(events or 0)}

    async def refund_monthly(
        self, conn: Connection, team_id: str, limit: LimitName, amount: int, at: datetime
    ) -> None:
        """Give back what `consume_monthly` counted for work that was not done after all."""
        await conn.execute(
            """
            UPDATE super_agent.metered_usage SET used = greatest(used - $4, 0), updated_at = now()
            WHERE account_id = (SELECT account_id FROM super_agent.teams WHERE id = $1::uuid)
              AND metric = $2 AND period_start = $3
            """,
            team_id,
            limit.value,
            month_start(at),
            amount,
        )

    async def consume_monthly(
        self, conn: Connection, team_id: str, limit: LimitName, amount: int, at: datetime
    ) -> None:
        """Count `amount` more of a monthly limit for the team's account, or refuse (402, naming the
        limit) without counting anything when it would pass the plan's maximum. One conditional upsert:
        replicas taking requests at once can never overshoot."""
        account_id = await conn.fetchval(
            "SELECT account_id FROM super_agent.teams WHERE id = $1::uuid", team_id
        )
        key, entitlements = await self.plan_of_account(conn, account_id)
        maximum: int = getattr(entitlements, limit.value)
        period = month_start(at)
        used = None
        if amount <= maximum:
            used = await conn.fetchval(
                """
                INSERT INTO super_agent.metered_usage AS m (account_id, metric, period_start, used)
                VALUES ($1::uuid, $2, $3, $4)
                ON CONFLICT (account_id, metric, period_start)
                DO UPDATE SET used = m.used + EXCLUDED.used, updated_at = now()
                WHERE m.used + EXCLUDED.used <= $5
                RETURNING used
                """,
                str(account_id),
                limit.value,
                period,
                amount,
                maximum,
            )
        if used is not None:
            return
        current = await conn.fetchval(
            "SELECT used FROM super_agent.metered_usage "
            "WHERE account_id = $1::uuid AND metric = $2 AND period_start = $3",
            str(account_id),
            limit.value,
            period,
        )
        decision = check_limit(entitlements, {limit.value: int(current or 0)}, limit, amount)
        raise AgentError(
            ErrorCode.PAYMENT_REQUIRED,
            f"the {key} plan's {limit.value} for {period:%B %Y} would be exceeded: {decision.message}",
            [
                {
                    "loc": limit.value,
                    "limit": limit.value,
                    "current": decision.current,
                    "requested": amount,
                    "maximum": decision.maximum,
                    "remaining": decision.remaining,
                    "period_start": period.isoformat(),
                    "plan": key,
                    "message": decision.message,
                    "type": "plan_limit",
                }
            ],
        )

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
        key, entitlements = await self._plan_of_team(team_of(principal))
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

    async def _plan_of_team(self, team_id: str) -> tuple[str, PlanEntitlements]:
        now = self._clock()
        cached = self._team_plans.get(team_id)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        async with self._pool.acquire() as conn:
            account_id = await conn.fetchval(
                "SELECT account_id FROM super_agent.teams WHERE id = $1::uuid", team_id
            )
            key, entitlements = await self.plan_of_account(conn, account_id)
        if self._cache_seconds > 0:
            if len(self._team_plans) >= self.MAX_CACHED:
                self._team_plans.clear()
            self._team_plans[team_id] = (now + self._cache_seconds, key, entitlements)
        return key, entitlements

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
