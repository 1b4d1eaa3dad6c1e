"""Spend reports, the pure part: which periods are due at a given moment, and the report alert of
one period built from cost reports (this period's and the one before, by model and by project).

A report is an ordinary alert (kind `daily_report` / `weekly_report`) whose dedup key names the
team's period (`report:daily:2026-11-24`, the day reported), so however many times and replicas
try, a team gets one per period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from pydantic import JsonValue

from shared.messages.alerts import Alert, AlertKind, AlertSeverity
from shared.messages.telemetry import CostReport

__all__ = [
    "ReportPeriod",
    "ReportWindow",
    "SpendBreakdown",
    "breakdown",
    "build_report",
    "windows_due",
]

# Lines per dimension in the text; the details carry the same rows.
TOP = 10
_NAME_CHARS = 60
_TEXT_CHARS = 4000
_NO_VALUE = "(none)"


class ReportPeriod(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class ReportWindow:
    """One reported period, [start, end) in UTC, compared with the period of the same length before."""

    period: ReportPeriod
    start: datetime
    end: datetime

    @property
    def previous_start(self) -> datetime:
        return self.start - (self.end - self.start)

    @property
    def dedup_key(self) -> str:
        return f"report:{self.period.value}:{self.start.date().isoformat()}"

    @property
    def kind(self) -> AlertKind:
        return AlertKind.DAILY_REPORT if self.period is ReportPeriod.DAILY else AlertKind.WEEKLY_REPORT


def windows_due(now: datetime) -> list[ReportWindow]:
    """The periods to report at `now`: yesterday (UTC), and on Mondays the week (Monday to Sunday)
    that just ended."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    windows = [ReportWindow(ReportPeriod.DAILY, today - timedelta(days=1), today)]
    if today.weekday() == 0:
        windows.append(ReportWindow(ReportPeriod.WEEKLY, today - timedelta(days=7), today))
    return windows


@dataclass(frozen=True)
class SpendBreakdown:
    """A period's spend: the total, and per model and per project (costliest first)."""

    cost_usd: Decimal
    events: int
    by_model: dict[str, Decimal]
    by_project: dict[str, Decimal]


def breakdown(by_model: CostReport, by_project: CostReport) -> SpendBreakdown:
    """One period's figures from its two reports (grouped by `model` and by `project`)."""
    return SpendBreakdown(
        cost_usd=by_model.totals.cost_usd,
        events=by_model.totals.events,
        by_model=_groups(by_model, "model"),
        by_project=_groups(by_project, "project"),
    )


def _groups(report: CostReport, dimension: str) -> dict[str, Decimal]:
    costs: dict[str, Decimal] = {}
    for group in report.groups:
        name = group.key.get(dimension) or _NO_VALUE
        costs[name] = costs.get(name, Decimal(0)) + group.totals.cost_usd
    return dict(sorted(costs.items(), key=lambda item: (-item[1], item[0])))


def build_report(window: ReportWindow, current: SpendBreakdown, previous: SpendBreakdown) -> Alert | None:
    """The report alert of `window`; None when neither period saw a single call (nothing to say)."""
    if current.events == 0 and previous.events == 0:
        return None
    label = _label(window)
    title = f"{label} spend: {_usd(current.cost_usd)} ({_change(current.cost_usd, previous.cost_usd)})"
    before = "the day before" if window.period is ReportPeriod.DAILY else "the week before"
    lines = [
        f"{label} (UTC): {_usd(current.cost_usd)} over {current.events:,} calls; "
        f"{before}: {_usd(previous.cost_usd)} ({_change(current.cost_usd, previous.cost_usd)}).",
    ]
    lines += _section("By model", current.by_model, previous.by_model)
    lines += _section("By project", current.by_project, previous.by_project)
    text = "\n".join(lines)
    if len(text) > _TEXT_CHARS:
        text = text[: _TEXT_CHARS - 2] + " …"
    return Alert(
        kind=window.kind,
        severity=AlertSeverity.INFO,
        title=title[:200],
        text=text,
        details={
            "period": window.period.value,
            "since": window.start.isoformat(),
            "until": window.end.isoformat(),
            "cost_usd": str(current.cost_usd),
            "events": current.events,
            "previous_cost_usd": str(previous.cost_usd),
            "previous_events": previous.events,
            "change_pct": _percent(current.cost_usd, previous.cost_usd),
            "by_model": _rows("model", current.by_model, previous.by_model),
            "by_project": _rows("project", current.by_project, previous.by_project),
        },
        dedup_key=window.dedup_key,
    )


def _label(window: ReportWindow) -> str:
    if window.period is ReportPeriod.DAILY:
        return f"Daily report for {window.start.date().isoformat()}"
    last = (window.end - timedelta(days=1)).date().isoformat()
    return f"Weekly report for {window.start.date().isoformat()} to {last}"


def _top(current: dict[str, Decimal]) -> Iterable[tuple[str, Decimal]]:
    return list(current.items())[:TOP]


def _section(heading: str, current: dict[str, Decimal], previous: dict[str, Decimal]) -> list[str]:
    if not current:
        return []
    lines = ["", f"{heading}:"]
    for name, cost in _top(current):
        shown = name if len(name) <= _NAME_CHARS else name[: _NAME_CHARS - 1] + "…"
        lines.append(f"  {shown}: {_usd(cost)} ({_change(cost, previous.get(name, Decimal(0)))})")
    if len(current) > TOP:
        lines.append(f"  … and {len(current) - TOP} more")
    return lines


def _rows(dimension: str, current: dict[str, Decimal], previous: dict[str, Decimal]) -> list[JsonValue]:
    return [
        {
            dimension: name,
            "cost_usd": str(cost),
            "previous_cost_usd": str(previous.get(name, Decimal(0))),
            "change_pct": _percent(cost, previous.get(name, Decimal(0))),
        }
        for name, cost in _top(current)
    ]


def _usd(amount: Decimal) -> str:
    # Cents hide what small teams spend; sub-dollar amounts keep four places.
    places = Decimal("0.01") if abs(amount) >= 1 else Decimal("0.0001")
    return f"${amount.quantize(places, rounding=ROUND_HALF_UP):,}"


def _percent(current: Decimal, previous: Decimal) -> float | None:
    """The change in percent, rounded to 0.1; None when there is nothing to compare with."""
    if previous == 0:
        return None
    return round(float((current - previous) / previous * 100), 1)


def _change(current: Decimal, previous: Decimal) -> str:
    if previous == 0:
        return "no change" if current == 0 else "new"
    percent = _percent(current, previous)
    assert percent is not None
    if percent == 0:
        return "no change"
    sign = "+" if percent > 0 else ""
    return f"{sign}{percent:.1f}%"
