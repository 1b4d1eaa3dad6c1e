"""Budgets on the MonitoringAgent: admission and CRUD endpoints, purge, upkeep of admission ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from services.budgets import store as budget_store
from services.budgets.jobs import forecast_alerts
from services.budgets.service import (
    ADMISSION_MEMORY,
    AlertSink,
    BudgetService,
    Forecaster,
    SpendHistory,
    UnpricedSink,
)
from services.pricing.interface import PriceSource
from services.pricing.memo import PricedOnce
from shared.bus.context import MessageContext
from shared.entitlements import EntitledTeams
from shared.messages.budgets import BudgetsChanged
from shared.messages.envelope import Principal
from shared.messages.registry import (
    BUDGET_ADMISSION,
    BUDGET_CREATE,
    BUDGET_DELETE,
    BUDGET_GET,
    BUDGET_LIST,
    BUDGET_PRESENCE,
    BUDGET_TEAMS,
    BUDGET_UPDATE,
    BUDGETS_CHANGED,
)
from shared.runtime import AgentRuntime

FORECAST_ALERT_INTERVAL = 900.0


def wire_budgets(
    runtime: AgentRuntime,
    pool: Any,
    purge: Any,
    prices: Callable[[str], Awaitable[PriceSource]],
    alerts: AlertSink | None = None,
    forecaster: Forecaster | None = None,
    history: SpendHistory | None = None,
    unpriced: UnpricedSink | None = None,
    entitled: EntitledTeams | None = None,
    memo: PricedOnce | None = None,
) -> BudgetService:
    async def announce(team_id: str, has_budgets: bool) -> None:
        await runtime.bus.notify(
            BUDGETS_CHANGED,
            BudgetsChanged(team_id=team_id, has_budgets=has_budgets),
            MessageContext(principal=Principal.system()),
        )

    budgets = BudgetService(pool, prices, alerts, forecaster, history, unpriced, changed=announce, memo=memo)
    runtime.service.add(BUDGET_PRESENCE, budgets.presence)
    runtime.service.add(BUDGET_TEAMS, budgets.teams)
    runtime.service.add(BUDGET_ADMISSION, budgets.admit)
    runtime.service.add(BUDGET_CREATE, budgets.create)
    runtime.service.add(BUDGET_UPDATE, budgets.update)
    runtime.service.add(BUDGET_DELETE, budgets.delete)
    runtime.service.add(BUDGET_GET, budgets.get)
    runtime.service.add(BUDGET_LIST, budgets.list)
    purge.register(budget_store.purge_teams)

    async def forget_old_admissions() -> None:
        async with pool.acquire() as conn:
            await budget_store.forget_admissions_before(conn, datetime.now(UTC) - ADMISSION_MEMORY)

    runtime.every("budget_admission_upkeep", 3600, forget_old_admissions)
    if alerts is not None and forecaster is not None:
        sink, outlook = alerts, forecaster

        async def warn_before_budgets_run_out() -> None:
            await forecast_alerts(pool, outlook, sink, entitled=entitled)

        runtime.every("budget_forecast_alerts", FORECAST_ALERT_INTERVAL, warn_before_budgets_run_out)
    runtime.on_shutdown(budgets.close)
    return budgets
