"""Budget forecasts from real ClickHouse history, and the alert that warns before a budget runs out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from services.alerts.channels import ChannelDependencies
from services.alerts.dispatcher import AlertDispatcher
from services.alerts.http import HttpPoster
from services.alerts.retry import RetryPolicy
from services.alerts.store import AlertStore
from services.budgets import store
from services.budgets.forecasting import SpendForecaster
from services.budgets.jobs import forecast_alerts
from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.config.models import EmailSettings
from shared.db.clickhouse import ClickHouse
from shared.email import EmailSender
from shared.messages.budgets import CreateBudget
from shared.messages.telemetry import TokenEvent, TokenEventColumns

NOW = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)


async def spend_daily(clickhouse: ClickHouse, team: str, days: int, calls_per_day: int) -> Decimal:
    """`calls_per_day` gpt-4o calls ($0.0035 each) a day for the `days` days before NOW; today's total."""
    events = [
        TokenEvent.model_validate(
            {
                "id": f"d{day}-{n}",
                "timestamp": NOW - timedelta(days=day, minutes=n),
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 100,
            }
        )
        for day in range(1, days + 1)
        for n in range(calls_per_day)
    ]
    await TokenEventWriter(TokenCostStore(clickhouse)).write(
        price_events(GenaiPricesSource(), team, None, NOW, TokenEventColumns.of(events))
    )
    return Decimal("0.0035") * calls_per_day


def dispatcher(pool: asyncpg.Pool) -> AlertDispatcher:
    deps = ChannelDependencies(email=EmailSender(EmailSettings()), http=HttpPoster(allow_private=False))
    return AlertDispatcher(AlertStore(pool, None), deps, RetryPolicy(), allow_private_targets=False)


async def make_budget(pool: asyncpg.Pool, team: str, amount: str, spent: Decimal) -> str:
    async with pool.acquire() as conn:
        row = await store.create(conn, team, CreateBudget(name="monthly", amount_usd=Decimal(amount)), None)
        await store.charge(conn, {(row["id"], NOW.replace(day=1)): (spent, 1)})
    return str(row["id"])


async def test_steady_spend_is_forecast_to_pass_a_small_budget(
    migrated_pool: asyncpg.Pool, analytics: ClickHouse
) -> None:
    """$0.35 a day with $3.85 spent by the 12th: a $6 budget runs out around the 18th, not a $20 one."""
    team = str(uuid.uuid4())
    daily = await spend_daily(analytics, team, 40, 100)
    spent = daily * 11
    forecaster = SpendForecaster(TokenCostStore(analytics))
    small = store.rule_of(await _row(migrated_pool, team, await make_budget(migrated_pool, team, "6", spent)))
    outlook = await forecaster.forecast(team, small, spent, NOW)
    assert outlook is not None
    assert outlook.runs_out
    assert outlook.runs_out_at is not None
    assert datetime(2026, 11, 17, tzinfo=UTC) <= outlook.runs_out_at <= datetime(2026, 11, 20, tzinfo=UTC)
    assert Decimal("9") < outlook.projected_total_usd < Decimal("12")  # ~ $0.35 x 30
    assert outlook.projected_lower_usd <= outlook.projected_total_usd <= outlook.projected_upper_usd
    large = store.rule_of(await _row(migrated_pool, team, await make_budget_named(migrated_pool, team, "20")))
    roomy = await forecaster.forecast(team, large, spent, NOW)
    assert roomy is not None
    assert not roomy.runs_out


async def test_the_forecast_alert_goes_out_once_per_period(
    migrated_pool: asyncpg.Pool, analytics: ClickHouse
) -> None:
    """The job raises one budget_forecast alert for the budget that will run out; a rerun raises none."""
    team = str(uuid.uuid4())
    daily = await spend_daily(analytics, team, 40, 100)
    await make_budget(migrated_pool, team, "6", daily * 11)
    alerts = dispatcher(migrated_pool)
    forecaster = SpendForecaster(TokenCostStore(analytics))
    assert await forecast_alerts(migrated_pool, forecaster, alerts, NOW) == 1
    assert await forecast_alerts(migrated_pool, forecaster, alerts, NOW + timedelta(hours=1)) == 0
    history = await alerts.history(team)
    assert [a.alert.kind.value for a in history.entries] == ["budget_forecast"]
    assert "passes $6.00" in history.entries[0].alert.text


async def _row(pool: asyncpg.Pool, team: str, budget_id: str):  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn:
        return await store.get(conn, team, budget_id)


async def make_budget_named(pool: asyncpg.Pool, team: str, amount: str) -> str:
    async with pool.acquire() as conn:
        row = await store.create(
            conn, team, CreateBudget(name=f"b{amount}", amount_usd=Decimal(amount)), None
        )
    return str(row["id"])
