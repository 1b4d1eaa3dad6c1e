"""Spend reports, the pure part: the periods due at a moment, and the report text from cost reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.alerts.reports import (
    TOP,
    ReportPeriod,
    ReportWindow,
    SpendBreakdown,
    breakdown,
    build_report,
    windows_due,
)
from shared.messages.alerts import AlertKind, AlertSeverity
from shared.messages.telemetry import CostFigures, CostGroup, CostReport

# 2026-11-23 is a Monday.
MONDAY = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
TUESDAY = MONDAY + timedelta(days=1)


def figures(cost: str, events: int = 1) -> CostFigures:
    return CostFigures(
        cost_usd=Decimal(cost),
        events=events,
        input_tokens=0,
        output_tokens=0,
        cache_read_tokens=0,
        cache_write_tokens=0,
        reasoning_tokens=0,
        unpriced_events=0,
        errors=0,
        latency_p50_ms=None,
        latency_p95_ms=None,
    )


def report(dimension: str, groups: dict[str, str], events: int | None = None) -> CostReport:
    total = sum((Decimal(c) for c in groups.values()), Decimal(0))
    return CostReport(
        team_id="t",
        since=MONDAY,
        until=TUESDAY,
        bucket=None,
        group_by=[dimension],
        totals=figures(str(total), len(groups) if events is None else events),
        groups=[CostGroup(key={dimension: k}, totals=figures(c)) for k, c in groups.items()],
        truncated=False,
    )


def spend(models: dict[str, str], projects: dict[str, str], events: int | None = None) -> SpendBreakdown:
    return breakdown(report("model", models, events), report("project", projects, events))


DAY = ReportWindow(ReportPeriod.DAILY, datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
NOTHING = spend({}, {}, events=0)


def test_on_a_tuesday_only_yesterday_is_due() -> None:
    """Any time on a Tuesday (UTC): one daily window, Monday 00:00 to Tuesday 00:00, keyed by Monday."""
    [window] = windows_due(TUESDAY + timedelta(hours=23, minutes=50))
    assert (window.period, window.start, window.end) == (
        ReportPeriod.DAILY,
        datetime(2026, 11, 23, tzinfo=UTC),
        datetime(2026, 11, 24, tzinfo=UTC),
    )
    assert window.previous_start == datetime(2026, 11, 22, tzinfo=UTC)
    assert window.dedup_key == "report:daily:2026-11-23"


def test_on_a_monday_the_week_that_ended_is_due_too() -> None:
    """On Mondays the previous Monday-to-Sunday week is reported as well, compared with the week before."""
    daily, weekly = windows_due(MONDAY)
    assert daily.dedup_key == "report:daily:2026-11-22"
    assert (weekly.start, weekly.end) == (
        datetime(2026, 11, 16, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert weekly.previous_start == datetime(2026, 11, 9, tzinfo=UTC)
    assert weekly.dedup_key == "report:weekly:2026-11-16"
    assert weekly.kind is AlertKind.WEEKLY_REPORT


def test_a_moment_in_another_zone_is_reported_by_its_utc_day() -> None:
    """Monday 01:00 at UTC+02:00 is still Sunday in UTC: Saturday is reported, no weekly report."""
    moment = datetime(2026, 11, 23, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert [w.dedup_key for w in windows_due(moment)] == ["report:daily:2026-11-21"]
    with pytest.raises(ValueError, match="timezone-aware"):
        windows_due(datetime(2026, 11, 23))


def test_report_shows_totals_models_projects_and_changes() -> None:
    """Total and per-group spend with the change against the day before; new groups say so."""
    current = spend({"gpt-4o": "12.50", "claude": "0.0035"}, {"search": "10", "": "2.5035"}, events=1234)
    previous = spend({"gpt-4o": "10"}, {"search": "10"}, events=900)
    alert = build_report(DAY, current, previous)
    assert alert is not None
    assert alert.kind is AlertKind.DAILY_REPORT
    assert alert.severity is AlertSeverity.INFO
    assert alert.dedup_key == "report:daily:2026-11-24"
    assert alert.title == "Daily report for 2026-11-24 spend: $12.50 (+25.0%)"
    lines = alert.text.splitlines()
    assert lines[0] == (
        "Daily report for 2026-11-24 (UTC): $12.50 over 1,234 calls; the day before: $10.00 (+25.0%)."
    )
    assert lines[2:5] == ["By model:", "  gpt-4o: $12.50 (+25.0%)", "  claude: $0.0035 (new)"]
    assert lines[6:9] == ["By project:", "  search: $10.00 (no change)", "  (none): $2.50 (new)"]
    assert alert.details["change_pct"] == 25.0
    assert alert.details["by_model"] == [
        {"model": "gpt-4o", "cost_usd": "12.50", "previous_cost_usd": "10", "change_pct": 25.0},
        {"model": "claude", "cost_usd": "0.0035", "previous_cost_usd": "0", "change_pct": None},
    ]


def test_a_drop_to_nothing_is_reported_and_silence_is_not() -> None:
    """Spend that stopped is worth a report (-100%); two periods without a call are not."""
    previous = spend({"gpt-4o": "3"}, {"search": "3"})
    alert = build_report(DAY, NOTHING, previous)
    assert alert is not None
    assert "$0.0000 over 0 calls; the day before: $3.00 (-100.0%)" in alert.text
    assert build_report(DAY, NOTHING, NOTHING) is None


def test_long_lists_are_cut_to_the_costliest() -> None:
    """Only the TOP costliest groups are listed, then how many more there were; names are shortened."""
    models = {f"model-{i:02d}": str(100 - i) for i in range(TOP + 5)}
    models["x" * 500] = "0.5"
    alert = build_report(DAY, spend(models, {"p": "1"}), NOTHING)
    assert alert is not None
    listed = [line for line in alert.text.splitlines() if line.startswith("  model-")]
    assert listed[0] == "  model-00: $100.00 (new)"
    assert len(listed) == TOP
    assert f"  … and {len(models) - TOP} more" in alert.text
    assert "x" * 100 not in alert.text
    assert len(alert.details["by_model"]) == TOP  # type: ignore[arg-type]
