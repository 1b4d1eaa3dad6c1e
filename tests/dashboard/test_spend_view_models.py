"""The Costs explorer's, Budgets' and Prices' pure page logic: ranges, URLs, drill-down, CSV, forms."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.dashboard import budgets, costs, prices
from shared.messages.telemetry import CostFigures, CostGroup, CostPoint, CostReport

NOW = datetime(2025, 3, 14, 9, 27, tzinfo=UTC)


def figures(cost: str, events: int) -> CostFigures:
    return CostFigures(
        cost_usd=Decimal(cost),
        events=events,
        input_tokens=10 * events,
        output_tokens=events,
        cache_read_tokens=0,
        cache_write_tokens=0,
        reasoning_tokens=0,
        unpriced_events=0,
        errors=0,
        latency_p50_ms=100.0,
        latency_p95_ms=300.0,
    )


def test_ranges_start_at_midnight_and_end_on_the_next_hour() -> None:
    """90 days are 89 whole days and today to the next hour, per day; 24 h is hourly; custom days include
    the last one."""
    plan = costs.plan(costs.ExplorerQuery(range="90d"), NOW)
    assert (plan.since, plan.until, plan.bucket) == (
        datetime(2024, 12, 15, tzinfo=UTC),
        datetime(2025, 3, 14, 10, tzinfo=UTC),
        "day",
    )
    assert costs.plan(costs.ExplorerQuery(range="24h"), NOW).bucket == "hour"
    custom = costs.plan(
        costs.ExplorerQuery(range="custom", since=date(2025, 1, 1), until=date(2025, 1, 1)), NOW
    )
    assert (custom.since, custom.until, custom.bucket) == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 2, tzinfo=UTC),
        "hour",
    )


def test_a_view_is_its_url_without_defaults_or_blanks() -> None:
    """Blank form fields are no filter; the canonical URL keeps only what differs from the defaults."""
    query = costs.ExplorerQuery.model_validate(
        {"range": "30d", "group_by": "model", "project": "", "user": "ada"}
    )
    assert query.filters() == {"user": "ada"}
    assert query.url("/dashboard/costs") == "/dashboard/costs?range=30d&user=ada"
    again = costs.ExplorerQuery.model_validate(
        dict(p.split("=") for p in query.url("x").split("?")[1].split("&"))
    )
    assert again == query


@pytest.mark.parametrize(
    "fields",
    [
        {"range": "custom", "since": "2025-03-05", "until": "2025-03-01"},
        {"range": "custom", "since": "2025-03-05"},
        {"group_by": "tag"},
        {"group_by": "colour"},
        {"range": "custom", "since": "2020-01-01", "until": "2025-01-01"},
    ],
)
def test_bad_views_are_refused(fields: dict[str, str]) -> None:
    """An inverted or open custom range, a tag grouping without its key, an unknown dimension, a range
    over 400 days: refused by the model (the edge answers 422)."""
    with pytest.raises(ValidationError):
        costs.ExplorerQuery.model_validate(fields)


def report(groups: list[tuple[str, str, int]], dimension: str = "model") -> CostReport:
    day = datetime(2025, 3, 14, tzinfo=UTC)
    built = [
        CostGroup(
            key={dimension: key},
            totals=figures(cost, events),
            series=[CostPoint(bucket_start=day, **figures(cost, events).model_dump())],
        )
        for key, cost, events in groups
    ]
    total_cost = sum((Decimal(c) for _, c, _ in groups), Decimal(0))
    total_events = sum(e for _, _, e in groups)
    return CostReport(
        team_id="t",
        since=day,
        until=NOW,
        bucket=None,
        group_by=[dimension],
        totals=figures(str(total_cost), total_events),
        groups=built,
        truncated=False,
    )


def test_drill_down_filters_the_group_and_asks_the_next_question() -> None:
    """A model's row links to its calls by project; an empty key and a status group have no drill-down
    (the API cannot filter by them); filters keep a link that removes them."""
    query = costs.ExplorerQuery(group_by="model", user="ada")
    grouped = report([("gpt-4o", "2.50", 3), ("", "0.50", 1)])
    view = costs.build(query, costs.plan(query, NOW), grouped, report([("", "3.00", 4)]), "/c")
    assert view.groups[0].drill == "/c?group_by=project&user=ada&model=gpt-4o"
    assert view.groups[1].drill is None
    assert view.groups[1].label == "(none)"
    assert view.filters == [("User", "ada", "/c")]
    assert costs.next_dimension(costs.ExplorerQuery(group_by="status")) is None
    chart = view.by_group_chart("/c")
    assert chart["links"][-1] == view.groups[0].drill  # the costliest bar on top


def test_csv_rows_add_up_and_formulas_are_quoted() -> None:
    """The CSV has a row per group and bucket, each group's total and the range's; a name starting with
    '=' is quoted so a spreadsheet does not run it."""
    query = costs.ExplorerQuery(group_by="project")
    text = costs.csv_text(
        query, costs.plan(query, NOW), report([("=HYPERLINK()", "1.25", 2), ("b", "0.75", 1)], "project")
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["project"] == "'=HYPERLINK()"
    totals = [r for r in rows if r["bucket_start"] == "total" and r["project"] != "(all)"]
    everything = next(r for r in rows if r["project"] == "(all)")
    assert sum(Decimal(r["cost_usd"]) for r in totals) == Decimal(everything["cost_usd"]) == Decimal("2.00")


def test_budget_form_becomes_the_apis_body() -> None:
    """htmx's strings become the API's types: thresholds a list of ints, the checkbox a bool, rolling hours
    an int; text the API must refuse is passed on as text (its model names the field)."""
    form = budgets.BudgetForm.model_validate(
        {
            "name": "M",
            "amount_usd": "25",
            "period": "rolling",
            "rolling_hours": "48",
            "thresholds": "50, 90",
            "hard_limit": "on",
        }
    )
    body = form.create_body()
    assert body["thresholds"] == [50, 90]
    assert body["hard_limit"] is True
    assert body["rolling_hours"] == 48
    assert budgets.BudgetForm(thresholds="50, lots").create_body()["thresholds"] == [50, "lots"]


def test_reprice_form_covers_the_last_day_and_runs_read_from_the_audit() -> None:
    """Re-pricing days 1 to 3 asks for [day 1, day 4); an audit entry of a run gives its totals."""
    body = prices.RepriceForm(since="2025-03-01", until="2025-03-03").body()
    assert body == {"since": "2025-03-01T00:00:00+00:00", "until": "2025-03-04T00:00:00+00:00"}
    rows = prices.run_rows(
        [
            {
                "action": "prices.reprice",
                "resource_id": "r1",
                "occurred_at": "2025-03-14T09:00:00+00:00",
                "before": {
                    "since": "2025-03-01T00:00:00+00:00",
                    "until": "2025-03-04T00:00:00+00:00",
                    "total_usd": "1.50",
                },
                "after": {
                    "since": "2025-03-01T00:00:00+00:00",
                    "until": "2025-03-04T00:00:00+00:00",
                    "total_usd": "2.25",
                    "events_scanned": 9,
                    "events_repriced": 4,
                    "model": "gpt-4o",
                },
            },
            {"action": "prices.overrides.create", "occurred_at": "2025-03-14T08:00:00+00:00"},
        ]
    )
    assert len(rows) == 1
    assert rows[0].change_usd == Decimal("0.75")
    assert rows[0].scope == "model gpt-4o"
