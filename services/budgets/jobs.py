"""Periodic budget work: warn before a budget runs out, from each budget's forecast.

Runs on every replica; the alert's dedup key (budget, period) makes it go out once per period.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from services.budgets import store
from services.budgets.service import AlertSink, Forecaster
from shared.entitlements import FORECASTS, EntitledTeams
from shared.messages.alerts import Alert, AlertKind, AlertSeverity

log = structlog.get_logger("mno.budgets.jobs")


async def forecast_alerts(
    pool: Any,
    forecaster: Forecaster,
    alerts: AlertSink,
    now: datetime | None = None,
    *,
    entitled: EntitledTeams | None = None,
) -> int:
    """Raise a forecast alert for every budget projected to pass its amount before its period ends
    (and not passed yet); returns how many were newly raised. With `entitled`, only for teams whose
    plan includes forecasts (asked each run, so a plan change counts from the next)."""
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn:
        budgets = await store.list_all(conn)
        if entitled is not None:
            allowed = await entitled.among({team_id for team_id, _ in budgets}, FORECASTS)
            budgets = [(team_id, row) for team_id, row in budgets if team_id in allowed]
        raised = 0
        for team_id, row in budgets:
            rule = store.rule_of(row)
            start, end = rule.bounds(now)
            spent = (await store.spent(conn, [(rule.id, start, end)])).get((rule.id, start), Decimal(0))
            if spent >= rule.amount:
                continue  # the threshold alerts have said so already
            try:
                outlook = await forecaster.forecast(team_id, rule, spent, now)
            except Exception:
                log.exception("budget forecast failed", budget_id=rule.id)
                continue
            if outlook is None or not outlook.runs_out or outlook.runs_out_at is None:
                continue
            alert = Alert(
                kind=AlertKind.BUDGET_FORECAST,
                severity=AlertSeverity.WARNING,
                title=f"Budget {rule.name} is forecast to run out on {outlook.runs_out_at:%b %d}",
                text=outlook.summary,
                details={
                    "budget_id": rule.id,
                    "runs_out_at": outlook.runs_out_at.isoformat(),
                    "projected_total_usd": str(outlook.projected_total_usd),
                    "projected_upper_usd": str(outlook.projected_upper_usd),
                    "amount_usd": str(rule.amount),
                    "spent_usd": str(spent),
                    "method": outlook.method,
                },
                dedup_key=f"forecast:{rule.id}:{start.isoformat()}",
            )
            if await alerts.raise_alert(team_id, alert):
                raised += 1
    return raised
