"""The Budgets page: budgets with their state, each one's spend and forecast chart, the forms' inputs.

Pure. The forms arrive as htmx sends them (every field a string, a checkbox "on" or absent);
`BudgetForm.create_body` / `update_body` turn them into the bodies `POST /api/v1/budgets` and
`PATCH /api/v1/budgets/{budget_id}` take, whose own models then decide what is valid (one rule set:
the API's). A budget's chart is its period's cumulative spend from `GET /api/v1/costs` (filtered to
its scope) with the forecast's projection and interval to the period's end, and the amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.dashboard import formatting
from services.dashboard.overview import BudgetRow, budget_rows
from shared.messages.budgets import BudgetInfo, Period, ScopeKind
from shared.messages.fields import Text
from shared.messages.telemetry import CostReport

__all__ = ["BudgetForm", "BudgetRef", "BudgetRow", "budget_rows", "chart_plan", "spend_chart"]

# A budget's scope as `GET /api/v1/costs` filters it.
SCOPE_FILTER = {
    ScopeKind.PROJECT: "project",
    ScopeKind.USER: "user",
    ScopeKind.MODEL: "model",
    ScopeKind.API_KEY: "api_key_id",
}
FormText = Annotated[Text, StringConstraints(max_length=256)]
BudgetIdText = Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}$")]


def _checkbox(value: object) -> object:
    if value in (None, ""):
        return False
    return value in ("on", "true", True)


class BudgetForm(BaseModel):
    """The create / edit form (strings as htmx's json-enc sends them)."""

    model_config = ConfigDict(extra="forbid")

    budget_id: BudgetIdText | None = None
    name: FormText = ""
    scope: Literal["team", "project", "user", "model", "api_key"] = "team"
    scope_value: FormText = ""
    amount_usd: FormText = ""
    period: Literal["day", "week", "month", "rolling"] = "month"
    rolling_hours: FormText = ""
    thresholds: FormText = Field(default="50, 80, 100", description="Percentages, comma-separated.")
    hard_limit: bool = False
    unpriced: Literal["refuse", "allow"] = "refuse"

    @field_validator("hard_limit", mode="before")
    @classmethod
    def _hard_limit(cls, value: object) -> object:
        return _checkbox(value)

    def _thresholds(self) -> list[Any]:
        parts = [p.strip() for p in self.thresholds.replace(";", ",").split(",") if p.strip()]
        # Numbers become ints; anything else is passed on for the API's model to refuse by name.
        return [int(p) if p.isdigit() else p for p in parts]

    def create_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "scope": self.scope,
            "scope_value": "" if self.scope == "team" else self.scope_value.strip(),
            "amount_usd": self.amount_usd.strip(),
            "period": self.period,
            "thresholds": self._thresholds(),
            "hard_limit": self.hard_limit,
            "unpriced": self.unpriced,
        }
        if self.period == "rolling":
            hours = self.rolling_hours.strip()
            body["rolling_hours"] = int(hours) if hours.isdigit() else hours
        return body

    def update_body(self) -> dict[str, Any]:
        return {
            "budget_id": self.budget_id,
            "name": self.name,
            "amount_usd": self.amount_usd.strip(),
            "thresholds": self._thresholds(),
            "hard_limit": self.hard_limit,
            "unpriced": self.unpriced,
        }


class BudgetRef(BaseModel):
    """A budget named by a form or a fragment's query (its id checked again by the API's route)."""

    model_config = ConfigDict(extra="forbid")

    budget_id: BudgetIdText


@dataclass(frozen=True)
class ChartPlan:
    since: datetime
    until: datetime
    bucket: str
    filters: dict[str, str]

    def query(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "bucket": self.bucket, **self.filters}


def chart_plan(budget: BudgetInfo, now: datetime) -> ChartPlan:
    """The costs to ask for: the period so far, to the next whole hour, in the budget's scope."""
    next_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    until = min(next_hour, budget.period_end)
    since = budget.period_start
    if until <= since:
        until = since + timedelta(hours=1)
    short = budget.period == Period.DAY or (budget.period_end - budget.period_start) <= timedelta(days=3)
    scope = SCOPE_FILTER.get(budget.scope)
    return ChartPlan(since, until, "hour" if short else "day", {scope: budget.scope_value} if scope else {})


def spend_chart(budget: BudgetInfo, report: CostReport) -> dict[str, Any]:
    """Cumulative spend per bucket, then the forecast's projection (and interval) at the period's end,
    against the amount."""
    bucket = report.bucket.value if report.bucket else "day"
    points = sorted((p for g in report.groups for p in g.series), key=lambda p: p.bucket_start)
    labels: list[str] = []
    spent: list[float | None] = []
    running = Decimal(0)
    for point in points:
        running += point.cost_usd
        labels.append(_label(point.bucket_start, bucket))
        spent.append(float(running))
    projected: list[float | None] = [None] * len(spent)
    lower: list[float | None] = [None] * len(spent)
    upper: list[float | None] = [None] * len(spent)
    if budget.forecast is not None:
        if spent:
            projected[-1] = lower[-1] = upper[-1] = spent[-1]
        labels.append("period end " + _label(budget.period_end, bucket))
        spent.append(None)
        projected.append(float(budget.forecast.projected_total_usd))
        lower.append(float(budget.forecast.projected_lower_usd))
        upper.append(float(budget.forecast.projected_upper_usd))
    series: list[dict[str, Any]] = [{"name": "spent", "values": spent}]
    if budget.forecast is not None:
        series += [
            {"name": "forecast", "values": projected, "dashed": True},
            {"name": "forecast low", "values": lower, "dashed": True},
            {"name": "forecast high", "values": upper, "dashed": True},
        ]
    series.append({"name": "amount", "values": [float(budget.amount_usd)] * len(labels)})
    return {
        "kind": "line",
        "unit": "usd",
        "title": f"{budget.name}: spend this period (USD)",
        "labels": labels,
        "series": series,
        "legend": True,
    }


def chart_rows(chart: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The chart's figures as table rows (label, one cell per series)."""
    rows = []
    for i, label in enumerate(chart["labels"]):
        cells = [
            "" if (v := s["values"][i]) is None else formatting.usd(Decimal(str(round(v, 6))))
            for s in chart["series"]
        ]
        rows.append((label, cells))
    return rows


def _label(instant: datetime, bucket: str) -> str:
    instant = instant.astimezone(UTC)
    return instant.strftime("%b %d %H:00") if bucket == "hour" else instant.strftime("%b %d")
