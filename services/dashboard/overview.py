"""The Overview page: spend against budgets, the month's forecast, anomalies, alerts, ingest health.

Pure: `window` says which ranges to ask the API for at an instant, `build` turns the answers into
what the template shows. The ranges end on the next whole hour (minute for the last hour), so the
cost queries read the hourly rollups, and the page names them, so anyone can ask
`GET /api/v1/costs` for the same range and get the same totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.dashboard import formatting
from services.dashboard.answers import Unavailable
from shared.messages.alerts import AlertHistoryPage
from shared.messages.budgets import BudgetInfo, BudgetList, Period
from shared.messages.telemetry import AnomalyList, CostReport, DroppedSpansReport

RECENT_MINUTES = 60
ANOMALY_DAYS = 7
ALERTS_SHOWN = 5
FORECASTS_SHOWN = 3
DROPS_HOURS = 24


@dataclass(frozen=True)
class Window:
    now: datetime
    month_start: datetime
    today_start: datetime
    until: datetime  # the next whole hour: hour-aligned ranges read the rollups
    recent_since: datetime
    recent_until: datetime
    anomalies_since: datetime
    drops_since: datetime


def window(now: datetime) -> Window:
    now = now.astimezone(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return Window(
        now=now,
        month_start=today.replace(day=1),
        today_start=today,
        until=now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1),
        recent_since=minute - timedelta(minutes=RECENT_MINUTES),
        recent_until=minute,
        anomalies_since=now - timedelta(days=ANOMALY_DAYS),
        drops_since=now - timedelta(hours=DROPS_HOURS),
    )


@dataclass(frozen=True)
class Spend:
    today_usd: Decimal
    month_usd: Decimal
    month_events: int
    month_unpriced: int
    since: datetime
    until: datetime
    days: list[tuple[datetime, Decimal, int]]  # (day, cost, events) for each day of the month so far

    def chart(self) -> dict[str, Any]:
        """What static/dashboard.js draws (a data attribute, not an inline script)."""
        return {
            "kind": "bar",
            "title": "Spend per day this month (USD)",
            "labels": [formatting.day(start) for start, _, _ in self.days],
            "values": [float(cost) for _, cost, _ in self.days],
        }


@dataclass(frozen=True)
class BudgetRow:
    id: str
    name: str
    scope: str
    period: str
    spent_usd: Decimal
    amount_usd: Decimal
    percent: float
    state: str  # ok | warning | exhausted
    hard_limit: bool


@dataclass(frozen=True)
class AnomalyRow:
    hour: datetime
    model: str
    metric: str
    observed: str
    expected: str
    direction: str


@dataclass(frozen=True)
class AlertRow:
    raised_at: datetime
    severity: str
    kind: str
    title: str
    delivery: str


@dataclass(frozen=True)
class Ingest:
    events_last_hour: int
    events_per_minute: float
    unpriced_month: int
    last_seen: datetime | None  # the minute, within the last hour
    last_day: datetime | None  # else the last day of this month with events


@dataclass(frozen=True)
class DropLine:
    reason: str
    spans: int
    fix: str
    example: str


@dataclass(frozen=True)
class SpanDrops:
    """OTLP spans not turned into events in the last 24 h: calls whose spend is lost, with their
    fix, apart from the expected ones (not a call, reported twice), which are only counted."""

    total: int
    losing: list[DropLine]
    expected: list[tuple[str, int]]


@dataclass(frozen=True)
class Overview:
    window: Window
    spend: Spend | Unavailable
    budgets: list[BudgetRow] | Unavailable
    anomalies: list[AnomalyRow] | Unavailable
    alerts: list[AlertRow] | Unavailable
    ingest: Ingest | Unavailable
    drops: SpanDrops | Unavailable
    first_run: bool  # nothing ever seen this month: the page leads with how to send a first event


def spend(win: Window, month: CostReport) -> Spend:
    series = month.groups[0].series if month.groups else []
    by_day = {point.bucket_start.astimezone(UTC).date(): point for point in series}
    days: list[tuple[datetime, Decimal, int]] = []
    cursor = win.month_start
    while cursor < win.until:
        point = by_day.get(cursor.date())
        days.append((cursor, point.cost_usd if point else Decimal(0), point.events if point else 0))
        cursor += timedelta(days=1)
    today = by_day.get(win.today_start.date())
    return Spend(
        today_usd=today.cost_usd if today else Decimal(0),
        month_usd=month.totals.cost_usd,
        month_events=month.totals.events,
        month_unpriced=month.totals.unpriced_events,
        since=month.since,
        until=month.until,
        days=days,
    )


def _scope(budget: BudgetInfo) -> str:
    return (
        budget.scope.value if budget.scope.value == "team" else f"{budget.scope.value} {budget.scope_value}"
    )


def _period(budget: BudgetInfo) -> str:
    if budget.period == Period.ROLLING:
        return f"rolling {budget.rolling_hours} h"
    return budget.period.value


def budget_rows(budgets: BudgetList) -> list[BudgetRow]:
    rows = []
    for b in budgets.budgets:
        percent = float(b.percent_used)
        warn_at = min(b.thresholds) if b.thresholds else 80
        state = "exhausted" if b.exhausted or percent >= 100 else "warning" if percent >= warn_at else "ok"
        rows.append(
            BudgetRow(
                b.id, b.name, _scope(b), _period(b), b.spent_usd, b.amount_usd, percent, state, b.hard_limit
            )
        )
    return rows


def anomaly_rows(found: AnomalyList) -> list[AnomalyRow]:
    def figure(metric: str, value: float) -> str:
        return formatting.usd(value) if metric == "cost_usd" else formatting.count(value)

    newest = sorted(found.anomalies, key=lambda a: a.hour, reverse=True)
    return [
        AnomalyRow(
            a.hour,
            a.model,
            "spend" if a.metric == "cost_usd" else "tokens",
            figure(a.metric, a.observed),
            figure(a.metric, a.expected),
            a.direction,
        )
        for a in newest
    ]


def alert_rows(page: AlertHistoryPage) -> list[AlertRow]:
    rows = []
    for entry in page.entries[:ALERTS_SHOWN]:
        statuses = [d.status.value for d in entry.deliveries]
        delivery = ", ".join(sorted(set(statuses))) if statuses else "no channel"
        a = entry.alert
        rows.append(AlertRow(a.raised_at, a.severity.value, a.kind.value, a.title, delivery))
    return rows


def ingest(recent: CostReport, month: Spend | Unavailable) -> Ingest:
    series = recent.groups[0].series if recent.groups else []
    seen = [p.bucket_start for p in series if p.events > 0]
    last_seen = max(seen) if seen else None
    # Older than the last hour: the day is what the month's daily series can tell.
    busy_days = [start for start, _, events in month.days if events > 0] if isinstance(month, Spend) else []
    return Ingest(
        events_last_hour=recent.totals.events,
        events_per_minute=recent.totals.events / RECENT_MINUTES,
        unpriced_month=month.month_unpriced if isinstance(month, Spend) else recent.totals.unpriced_events,
        last_seen=last_seen,
        last_day=max(busy_days) if busy_days and last_seen is None else None,
    )


def span_drops(report: DroppedSpansReport) -> SpanDrops:
    groups = report.by_reason  # money-losing first, then by spans (the API's order)
    return SpanDrops(
        total=report.total,
        losing=[DropLine(g.reason, g.spans, g.fix or g.meaning, g.example) for g in groups if g.loses_money],
        expected=[(g.reason, g.spans) for g in groups if not g.loses_money],
    )


def build(
    win: Window,
    *,
    month: CostReport | Unavailable,
    recent: CostReport | Unavailable,
    budgets: BudgetList | Unavailable,
    anomalies: AnomalyList | Unavailable,
    alerts: AlertHistoryPage | Unavailable,
    drops: DroppedSpansReport | Unavailable,
) -> Overview:
    spent = month if isinstance(month, Unavailable) else spend(win, month)
    health = recent if isinstance(recent, Unavailable) else ingest(recent, spent)
    first_run = (
        isinstance(spent, Spend)
        and spent.month_events == 0
        and isinstance(health, Ingest)
        and health.events_last_hour == 0
    )
    return Overview(
        window=win,
        spend=spent,
        budgets=budgets if isinstance(budgets, Unavailable) else budget_rows(budgets),
        anomalies=anomalies if isinstance(anomalies, Unavailable) else anomaly_rows(anomalies),
        alerts=alerts if isinstance(alerts, Unavailable) else alert_rows(alerts),
        ingest=health,
        drops=drops if isinstance(drops, Unavailable) else span_drops(drops),
        first_run=first_run,
    )


@dataclass(frozen=True)
class ForecastRow:
    budget: str
    amount_usd: Decimal
    spent_usd: Decimal
    projected_usd: Decimal
    lower_usd: Decimal
    upper_usd: Decimal
    runs_out: bool
    runs_out_at: datetime | None
    summary: str


def month_budgets(budgets: BudgetList) -> list[BudgetInfo]:
    """The budgets whose forecast is the month's: calendar-month ones, team-wide first."""
    monthly = [b for b in budgets.budgets if b.period == Period.MONTH]
    return sorted(monthly, key=lambda b: (b.scope.value != "team", b.name))[:FORECASTS_SHOWN]


def forecast_rows(found: list[BudgetInfo]) -> list[ForecastRow]:
    return [
        ForecastRow(
            b.name,
            b.amount_usd,
            b.spent_usd,
            b.forecast.projected_total_usd,
            b.forecast.projected_lower_usd,
            b.forecast.projected_upper_usd,
            b.forecast.runs_out,
            b.forecast.runs_out_at,
            b.forecast.summary,
        )
        for b in found
        if b.forecast is not None
    ]
