"""SQL of cost reports (pure): which table answers, and the statements with their parameters.

Day buckets and totals over day-aligned ranges, grouped and filtered by provider, model, project,
prompt or status, read the daily rollup (a 90-day dashboard: ~90 rows per group). Other hour-aligned
queries read the hourly rollups (by user and API key too; by tag). Minute buckets and ranges that
cut through an hour read the raw events, deduplicated with FINAL; minute series are limited to
`MAX_MINUTE_RANGE` so a query cannot ask for millions of points.

`model` is the model as the price source names it; `model_raw`, the name as reported, is a column of
the raw events and, in the hourly rollup, `reported_model` ('' when it equals `model`): so grouping or
filtering by it reads the hourly rollup or the raw events, never the daily rollup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.messages.telemetry import Bucket, CostQuery

MAX_MINUTE_RANGE = timedelta(days=2)
# What the daily rollup keeps (no user or API key: those read the hourly rollup).
DAILY_DIMENSIONS = frozenset({"provider", "model", "project", "prompt_name", "prompt_version", "status"})
MAX_POINTS_PER_GROUP = 5_000

_FILTERS = (
    "provider",
    "model",
    "model_raw",
    "project",
    "user",
    "prompt_name",
    "prompt_version",
    "api_key_id",
)
# Dimensions that are an expression over a rollup's columns rather than a column of it.
_ROLLUP_EXPRESSIONS = {"model_raw": "if(reported_model = '', model, reported_model)"}
_ROLLUP_SUMS = (
    "sum(events) AS events, sum(unpriced_events) AS unpriced_events, sum(errors) AS errors, "
    "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
    "sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens, "
    "sum(cache_write_1h_tokens) AS cache_write_1h_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, sum(cost_usd) AS cost_usd, "
    "quantilesTDigestMerge(0.5, 0.95)(latency) AS latency"
)
_RAW_SUMS = (
    "count() AS events, countIf(NOT priced) AS unpriced_events, countIf(status = 'error') AS errors, "
    "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
    "sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens, "
    "sum(cache_write_1h_tokens) AS cache_write_1h_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, sum(cost_usd) AS cost_usd, "
    "quantilesTDigestIf(0.5, 0.95)(assumeNotNull(latency_ms), isNotNull(latency_ms)) AS latency"
)
_BUCKET_FUNCTION = {
    Bucket.MINUTE: "toStartOfMinute",
    Bucket.HOUR: "toStartOfHour",
    Bucket.DAY: "toStartOfDay",
}


class QueryTooLarge(ValueError):
    """The query would return more points than allowed; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CostStatements:
    totals: Statement
    groups: Statement | None
    series: Statement | None
    dimensions: tuple[str, ...]  # output column names of the group key, in order


def _hour_aligned(at: datetime) -> bool:
    return at.minute == 0 and at.second == 0 and at.microsecond == 0


def _day_aligned(at: datetime) -> bool:
    return _hour_aligned(at) and at.astimezone(UTC).hour == 0


def _tag_key(query: CostQuery) -> str | None:
    for key in query.group_by:
        if key.startswith("tag:"):
            return key.removeprefix("tag:")
    return None


def build(team_id: str, query: CostQuery) -> CostStatements:
    """The statements for `query`, scoped to `team_id` (the principal's team, never the payload's)."""
    span = query.until - query.since
    if query.bucket is Bucket.MINUTE and span > MAX_MINUTE_RANGE:
        raise QueryTooLarge(
            f"minute buckets cover at most {MAX_MINUTE_RANGE.days} days; ask for hour or day buckets"
        )
    if query.bucket is Bucket.HOUR and span > timedelta(hours=MAX_POINTS_PER_GROUP):
        raise QueryTooLarge(f"hour buckets cover at most {MAX_POINTS_PER_GROUP} hours; ask for day buckets")

    tag_key = _tag_key(query)
    filters = {name: getattr(query, name) for name in _FILTERS if getattr(query, name) is not None}
    aligned = _hour_aligned(query.since) and _hour_aligned(query.until)
    use_rollup = aligned and query.bucket is not Bucket.MINUTE and not (tag_key and filters)
    use_daily = (
        use_rollup
        and tag_key is None
        and query.bucket in (None, Bucket.DAY)
        and _day_aligned(query.since)
        and _day_aligned(query.until)
        and set(query.group_by) | set(filters) <= DAILY_DIMENSIONS
    )

    params: dict[str, Any] = {"team": team_id, "since": query.since, "until": query.until}
    where = ["team_id = {team:String}"]
    if use_daily:
        table, time_column, sums = "token_costs_daily", "day", _ROLLUP_SUMS
        where += ["day >= {since:DateTime('UTC')}", "day < {until:DateTime('UTC')}"]
    elif use_rollup:
        table = "token_costs_tags_hourly" if tag_key else "token_costs_hourly"
        time_column = "hour"
        where += ["hour >= {since:DateTime('UTC')}", "hour < {until:DateTime('UTC')}"]
        sums = _ROLLUP_SUMS
    else:
        table = "token_events FINAL"
        time_column = "timestamp"
        where += ["timestamp >= {since:DateTime64(3, 'UTC')}", "timestamp < {until:DateTime64(3, 'UTC')}"]
        sums = _RAW_SUMS
    expressions = _ROLLUP_EXPRESSIONS if use_rollup else {}
    for name, value in filters.items():
        where.append(f"{expressions.get(name, name)} = {{f_{name}:String}}")
        params[f"f_{name}"] = value

    dimensions: tuple[str, ...]
    if tag_key is not None:
        params["tag_key"] = tag_key
        if use_rollup:
            where.append("tag_key = {tag_key:String}")
            select_dims = "tag_value AS `tag:value`"
        else:
            where.append("mapContains(tags, {tag_key:String})")
            select_dims = "tags[{tag_key:String}] AS `tag:value`"
        dimensions = ("tag:value",)
    else:
        dimensions = tuple(query.group_by)
        select_dims = ", ".join(f"{expressions[d]} AS `{d}`" if d in expressions else d for d in dimensions)
    where_sql = " AND ".join(where)

    totals = Statement(f"SELECT {sums} FROM {table} WHERE {where_sql}", params)
    group_by_sql = ", ".join(f"`{d}`" for d in dimensions)
    groups = None
    if dimensions:
        groups = Statement(
            f"SELECT {select_dims}, {sums} FROM {table} WHERE {where_sql} GROUP BY {group_by_sql} "
            f"ORDER BY cost_usd DESC, events DESC LIMIT {query.limit + 1}",
            params,
        )
    series = None
    if query.bucket is not None:
        bucket = f"{_BUCKET_FUNCTION[query.bucket]}({time_column}) AS bucket_start"
        keys = f"{select_dims}, " if dimensions else ""
        order = f"{group_by_sql}, bucket_start" if dimensions else "bucket_start"
        series = Statement(
            f"SELECT {keys}{bucket}, {sums} FROM {table} WHERE {where_sql} "
            f"GROUP BY {group_by_sql + ', ' if dimensions else ''}bucket_start ORDER BY {order}",
            params,
        )
    return CostStatements(totals, groups, series, dimensions)
