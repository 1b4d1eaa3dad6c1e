"""A budget's forecast: the scope's spend history from ClickHouse, projected to the period's end."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal

from services.budgets.planning import BudgetRule, scope_filter
from services.forecasting import DAY, HOUR, budget_exhaustion, floor_to_bucket, forecast, regularize
from services.token_costs.store import TokenCostStore
from shared.messages.budgets import BudgetForecast, Period, ScopeKind
from shared.messages.telemetry import Bucket, CostQuery

# Enough history for weekly seasonality on days, daily seasonality on hours.
DAILY_HISTORY = timedelta(days=56)
HOURLY_HISTORY = timedelta(days=14)


def bucket_of(rule: BudgetRule) -> timedelta:
    short = rule.period is Period.DAY or (rule.rolling_hours is not None and rule.rolling_hours <= 72)
    return HOUR if short else DAY


class SpendForecaster:
    def __init__(self, costs: TokenCostStore) -> None:
        self._costs = costs

    async def forecast(
        self, team_id: str, rule: BudgetRule, spent: Decimal, now: datetime
    ) -> BudgetForecast | None:
        """The period's projected total and when (if) it passes the amount; None when the period
        ends within this bucket (nothing left to forecast)."""
        _start, end = rule.bounds(now)
        bucket = bucket_of(rule)
        current = floor_to_bucket(now, bucket)
        if end <= now:
            return None
        since = current - (HOURLY_HISTORY if bucket == HOUR else DAILY_HISTORY)
        report = await self._costs.report(
            team_id,
            CostQuery(
                since=since,
                until=current,
                bucket=Bucket.HOUR if bucket == HOUR else Bucket.DAY,
                **scope_filter(rule),
            ),
        )
        points = [(p.bucket_start, p.cost_usd) for group in report.groups for p in group.series]
        series = regularize(points, bucket=bucket, start=since, end=current)
        horizon = max(1, -((current - end) // bucket))
        # statsmodels fits take tens to hundreds of milliseconds: off the event loop.
        projected = await asyncio.to_thread(forecast, series, horizon)
        scope = "the team" if rule.scope is ScopeKind.TEAM else f"{rule.scope.value} {rule.scope_value}"
        result = budget_exhaustion(
            spent=spent, budget=rule.amount, now=now, period_end=end, forecast=projected, subject=scope
        )
        return BudgetForecast(
            method=projected.method.value,
            projected_total_usd=result.projected_total,
            projected_lower_usd=result.projected_total_lower,
            projected_upper_usd=result.projected_total_upper,
            runs_out=result.runs_out,
            runs_out_at=result.runs_out_at,
            summary=result.summary,
        )
