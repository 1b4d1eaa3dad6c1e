"""SQL of cost reports (pure): which tables answer which part of the range, and the statements.

A range is cut in pieces (`plan_segments`): whole days read the daily rollup (when it keeps every
dimension asked for: no user, API key or tag), whole hours the hourly rollups (by tag: the tag
rollup), and the partial hours at either end the raw events, deduplicated with FINAL. So a report
from "now minus a day" to "now" costs about the same as one on hour boundaries: it reads at most two
partial hours of raw events. Each table is read once for all its pieces (sums, and t-digest states
of the latency, per group and bucket), and the reads are merged in an outer query whose GROUPING
SETS give the totals, the groups and the series points in one statement. Minute buckets read the
raw events only and are limited to `MAX_MINUTE_RANGE` so a query cannot ask for millions of points.

`model` is the model as the price source names it; `model_raw`, the name as reported, is a column of
the raw events and, in the hourly rollup, `reported_model` ('' when it equals `model`): so grouping or
filtering by it reads the hourly rollup or the raw events, never the daily rollup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
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
_SUM_COLUMNS = (
    "events",
    "unpriced_events",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "cost_usd",
)
_SUMS = ", ".join(f"sum({name}) AS {name}" for name in _SUM_COLUMNS)
# The raw events' figures, computed as the rollup views compute theirs.
_RAW_FIGURES = (
    "count() AS events, countIf(NOT priced) AS unpriced_events, countIf(status = 'error') AS errors, "
    "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
    "sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens, "
    "sum(cache_write_1h_tokens) AS cache_write_1h_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, sum(cost_usd) AS cost_usd"
)
_RAW_LATENCY = "(0.5, 0.95)(assumeNotNull(latency_ms), isNotNull(latency_ms)) AS latency"
# What a report reads: from one rollup, or the merge of every piece's partials.
_ROLLUP_SUMS = f"{_SUMS}, quantilesTDigestMerge(0.5, 0.95)(latency) AS latency"
# What a report reads from the raw events alone.
_RAW_SUMS = f"{_RAW_FIGURES}, quantilesTDigestIf{_RAW_LATENCY}"
# A piece's partials: its sums, and its latency as a digest state (the same type in every piece).
_ROLLUP_PARTIALS = f"{_SUMS}, quantilesTDigestMergeState(0.5, 0.95)(latency) AS latency"
_RAW_PARTIALS = f"{_RAW_FIGURES}, quantilesTDigestStateIf{_RAW_LATENCY}"


class Source(Enum):
    RAW = "raw"
    HOURLY = "hourly"
    DAILY = "daily"


_PARTIALS = {Source.RAW: _RAW_PARTIALS, Source.HOURLY: _ROLLUP_PARTIALS, Source.DAILY: _ROLLUP_PARTIALS}
# Per source: table, time column, and that column's parameter type.
_TABLES = {
    Source.RAW: ("token_events FINAL", "timestamp", "DateTime64(3, 'UTC')"),
    Source.HOURLY: ("token_costs_hourly", "hour", "DateTime('UTC')"),
    Source.DAILY: ("token_costs_daily", "day", "DateTime('UTC')"),
}
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


class Level(Enum):
    """What a row of the report statement is: the grouping set it was aggregated over."""

    TOTALS = "totals"  # the whole range
    GROUP = "group"  # one group's whole range
    POINT = "point"  # one group's bucket


@dataclass(frozen=True, slots=True)
class CostStatements:
    """One statement answers the whole report: its rows are the totals, the groups and the series
    points (GROUPING SETS), told apart by `grouping_level` (see `level`). One read of each table
    instead of one per part: a chdb read costs milliseconds before its first row."""

    report: Statement
    dimensions: tuple[str, ...]  # output column names of the group key, in order
    bucketed: bool
    # Rows come ordered by cost (groups, without buckets) and cut at `limit`: else every group comes
    # back and the caller keeps the top ones.
    limited: bool

    def level(self, grouping_level: int) -> Level:
        """`grouping_level` is ClickHouse's GROUPING() over the keys (dimensions, then the bucket):
        a bit set for each key the row was not grouped by (a report without keys: 0, the totals)."""
        keys = len(self.dimensions) + int(self.bucketed)
        if grouping_level == (1 << keys) - 1:
            return Level.TOTALS
        if grouping_level == 0 and self.bucketed:
            return Level.POINT
        return Level.GROUP


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at else floor + timedelta(hours=1)


def _floor_day(at: datetime) -> datetime:
    return _floor_hour(at).replace(hour=0)


def _ceil_day(at: datetime) -> datetime:
    floor = _floor_day(at)
    return floor if floor == at else floor + timedelta(days=1)


def _tag_key(query: CostQuery) -> str | None:
    for key in query.group_by:
        if key.startswith("tag:"):
            return key.removeprefix("tag:")
    return None


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of the asked range and the table that answers it."""

    source: Source
    since: datetime
    until: datetime


def plan_segments(since: datetime, until: datetime, *, rollup: bool, daily: bool) -> list[Segment]:
    """[since, until) cut into raw edges (partial hours), hourly rollup hours and daily rollup days.

    `rollup`: the hourly rollups can answer (else everything is read raw); `daily`: so can the daily
    one. A report asked from "now minus a day" reads at most two partial hours of raw events.
    """
    if not rollup:
        return [Segment(Source.RAW, since, until)]
    first_hour, last_hour = _ceil_hour(since), _floor_hour(until)
    if first_hour >= last_hour:
        return [Segment(Source.RAW, since, until)]
    middle = [Segment(Source.HOURLY, first_hour, last_hour)]
    if daily:
        first_day, last_day = _ceil_day(first_hour), _floor_day(last_hour)
        if first_day < last_day:
            middle = [
                Segment(Source.HOURLY, first_hour, first_day),
                Segment(Source.DAILY, first_day, last_day),
                Segment(Source.HOURLY, last_day, last_hour),
            ]
    edges = [Segment(Source.RAW, since, first_hour), *middle, Segment(Source.RAW, last_hour, until)]
    return [segment for segment in edges if segment.since < segment.until]


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
    # The tag rollup keeps no other dimension, so a tag with a filter reads the raw events.
    rollup = query.bucket is not Bucket.MINUTE and not (tag_key and filters)
    daily = (
        tag_key is None
        and query.bucket in (None, Bucket.DAY)
        and set(query.group_by) | set(filters) <= DAILY_DIMENSIONS
    )
    segments = plan_segments(query.since, query.until, rollup=rollup, daily=daily)
    params: dict[str, Any] = {"team": team_id}
    for name, value in filters.items():
        params[f"f_{name}"] = value
    if tag_key is not None:
        params["tag_key"] = tag_key
        dimensions: tuple[str, ...] = ("tag:value",)
    else:
        dimensions = tuple(query.group_by)
    for index, segment in enumerate(segments):
        params[f"s{index}_since"] = segment.since
        params[f"s{index}_until"] = segment.until

    # One read per table: pieces of the same table (the two raw edges, the hours either side of
    # whole days) are one read with a range each, as each read costs milliseconds before any row.
    by_source: dict[Source, list[int]] = {}
    for index, segment in enumerate(segments):
        by_source.setdefault(segment.source, []).append(index)

    bucket = query.bucket
    keys = [f"`{d}`" for d in dimensions] + (["bucket_start"] if bucket is not None else [])
    grouping = ""
    if keys:
        sets = ["()"]
        if dimensions:
            sets.append(f"({', '.join(keys[: len(dimensions)])})")
        if bucket is not None:
            sets.append(f"({', '.join(keys)})")
        grouping = f" GROUP BY GROUPING SETS ({', '.join(sets)})"
    level = f"grouping({', '.join(keys)}) AS grouping_level" if keys else ""
    selected = "".join(key + ", " for key in [level, *keys] if key)
    if len(by_source) == 1:
        # One table: aggregated in the read itself (merging digests twice costs as much again).
        ((source, indexes),) = by_source.items()
        final = _RAW_SUMS if source is Source.RAW else _ROLLUP_SUMS
        sql = _read_sql(source, indexes, filters, tag_key, dimensions, bucket, final, grouping, level)
    else:
        reads = " UNION ALL ".join(
            _read_sql(source, indexes, filters, tag_key, dimensions, bucket, _PARTIALS[source])
            for source, indexes in by_source.items()
        )
        sql = f"SELECT {selected}{_ROLLUP_SUMS} FROM ({reads}){grouping}"
    limited = bool(dimensions) and bucket is None
    if limited:
        # The totals row first, then the top groups and one more (to know the list was cut).
        sql += f" ORDER BY grouping_level DESC, cost_usd DESC, events DESC LIMIT {query.limit + 2}"
    elif bucket is not None:
        sql += f" ORDER BY grouping_level DESC, {', '.join(keys)}"
    return CostStatements(Statement(sql, params), dimensions, bucket is not None, limited)


def _read_sql(
    source: Source,
    indexes: list[int],
    filters: dict[str, str],
    tag_key: str | None,
    dimensions: tuple[str, ...],
    bucket: Bucket | None,
    aggregates: str,
    grouping: str | None = None,
    level: str = "",
) -> str:
    """One table's `aggregates` over its pieces, grouped by every key (`grouping`: grouped so instead)."""
    raw = source is Source.RAW
    table, time_column, time_type = _TABLES[source]
    if tag_key is not None and not raw:
        table = "token_costs_tags_hourly"
    ranges = [
        f"{time_column} >= {{s{index}_since:{time_type}}} AND {time_column} < {{s{index}_until:{time_type}}}"
        for index in indexes
    ]
    where = ["team_id = {team:String}", ranges[0] if len(ranges) == 1 else f"(({') OR ('.join(ranges)}))"]
    expressions = {} if raw else _ROLLUP_EXPRESSIONS
    where += [f"{expressions.get(name, name)} = {{f_{name}:String}}" for name in filters]
    if tag_key is not None:
        where.append("mapContains(tags, {tag_key:String})" if raw else "tag_key = {tag_key:String}")
    select: list[str] = [level] if level else []
    for dimension in dimensions:
        if dimension == "tag:value":
            select.append("tags[{tag_key:String}] AS `tag:value`" if raw else "tag_value AS `tag:value`")
        else:
            select.append(f"{expressions.get(dimension, dimension)} AS `{dimension}`")
    if bucket is not None:
        select.append(f"{_BUCKET_FUNCTION[bucket]}({time_column}) AS bucket_start")
    select.append(aggregates)
    if grouping is None:
        keys = [f"`{d}`" for d in dimensions] + (["bucket_start"] if bucket is not None else [])
        grouping = f" GROUP BY {', '.join(keys)}" if keys else ""
    return f"SELECT {', '.join(select)} FROM {table} WHERE {' AND '.join(where)}{grouping}"
