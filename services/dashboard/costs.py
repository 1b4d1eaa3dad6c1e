"""The Costs explorer: a view of spend over a range, grouped and filtered, kept whole in its URL.

Pure. `ExplorerQuery` is the page's query string (every piece of the view's state, so a URL is the
view and can be shared); `plan` turns it and the instant into the two `GET /api/v1/costs` questions
the page asks (grouped, and the ungrouped time series); `build` turns the answers into charts,
tables and drill-down links; `csv_rows` is the export of the same figures. Ranges end on the next
whole hour and start on a UTC midnight (or a whole hour for the last 24 h), so the API reads its
rollups and anyone asking `GET /api/v1/costs` for the range the page names gets the same totals.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.messages.fields import Text
from shared.messages.telemetry import CostFigures, CostPoint, CostReport

Range = Literal["24h", "7d", "30d", "90d", "custom"]
RANGES: dict[str, str] = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "custom": "Dates…",
}
DAYS = {"7d": 7, "30d": 30, "90d": 90}
MAX_CUSTOM_DAYS = 400

# What the API groups by (CostQuery.group_by), in the words the page uses.
DIMENSIONS: dict[str, str] = {
    "model": "Model",
    "provider": "Provider",
    "project": "Project",
    "user": "User",
    "api_key_id": "API key",
    "prompt_name": "Prompt",
    "prompt_version": "Prompt version",
    "model_raw": "Model (as sent)",
    "status": "Status",
    "tag": "Tag",
}
# What the API filters by (CostQuery's filter fields): a group of these dimensions can be drilled into.
FILTERS: tuple[str, ...] = (
    "provider",
    "model",
    "model_raw",
    "project",
    "user",
    "api_key_id",
    "prompt_name",
    "prompt_version",
)
# Where a drill-down goes next: this dimension's usual next question, else the first of DRILL_ORDER
# not already filtered (a model has one provider, so model -> provider would say nothing).
NEXT: dict[str, str] = {
    "provider": "model",
    "model": "project",
    "model_raw": "project",
    "project": "user",
    "user": "model",
    "api_key_id": "model",
    "prompt_name": "prompt_version",
    "prompt_version": "model",
}
DRILL_ORDER: tuple[str, ...] = ("model", "project", "user", "api_key_id", "prompt_name", "provider")
METRICS: dict[str, str] = {"cost": "Cost (USD)", "tokens": "Tokens", "calls": "Calls"}
GROUPS_SHOWN = 25  # the table's rows (the API's `limit`); the chart stacks the first STACKED
STACKED = 8

Filter = Annotated[Text, StringConstraints(max_length=256)] | None


class ExplorerQuery(BaseModel):
    """The explorer's URL: range, grouping, metric and filters (empty fields mean no filter)."""

    model_config = ConfigDict(extra="forbid")

    range: Range = "7d"
    since: date | None = Field(default=None, description="First day (UTC) of a custom range.")
    until: date | None = Field(default=None, description="Last day (UTC, included) of a custom range.")
    group_by: Literal[
        "model",
        "provider",
        "project",
        "user",
        "api_key_id",
        "prompt_name",
        "prompt_version",
        "model_raw",
        "status",
        "tag",
    ] = "model"
    tag: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-]{1,64}$")] | None = None
    metric: Literal["cost", "tokens", "calls"] = "cost"
    provider: Filter = None
    model: Filter = None
    model_raw: Filter = None
    project: Filter = None
    user: Filter = None
    api_key_id: Filter = None
    prompt_name: Filter = None
    prompt_version: Filter = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: object) -> object:
        # A GET form sends every field; an empty one is no choice at all.
        return None if isinstance(value, str) and value.strip() == "" else value

    @model_validator(mode="after")
    def _check(self) -> ExplorerQuery:
        if self.range == "custom":
            if self.since is None or self.until is None:
                raise ValueError("a custom range needs both dates (since and until)")
            if self.until < self.since:
                raise ValueError("until is before since")
            if (self.until - self.since).days + 1 > MAX_CUSTOM_DAYS:
                raise ValueError(f"at most {MAX_CUSTOM_DAYS} days at a time")
        if self.group_by == "tag" and self.tag is None:
            raise ValueError("grouping by tag needs the tag's key (tag)")
        return self

    def filters(self) -> dict[str, str]:
        return {name: value for name in FILTERS if (value := getattr(self, name)) is not None}

    def state(self, **change: Any) -> dict[str, str]:
        """The query string of this view with `change` applied (None removes a field), without
        defaults or blanks, so links stay short and canonical."""
        fields = self.model_dump(exclude_none=True) | change
        out: dict[str, str] = {}
        for name, value in fields.items():
            if value is None or (name in ("since", "until") and fields.get("range") != "custom"):
                continue
            if name == "tag" and fields.get("group_by") != "tag":
                continue
            default = ExplorerQuery.model_fields[name].default
            if value != default:
                out[name] = value.isoformat() if isinstance(value, date) else str(value)
        return out

    def url(self, path: str, **change: Any) -> str:
        query = urlencode(self.state(**change))
        return f"{path}?{query}" if query else path


@dataclass(frozen=True)
class Plan:
    """What the page asks `GET /api/v1/costs` for."""

    since: datetime
    until: datetime
    bucket: str  # hour | day
    group_by: str  # model, ..., or tag:<key>

    def grouped(self, query: ExplorerQuery) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "bucket": self.bucket,
            "group_by": self.group_by,
            "limit": GROUPS_SHOWN,
            **query.filters(),
        }

    def series(self, query: ExplorerQuery) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "bucket": self.bucket, **query.filters()}


def plan(query: ExplorerQuery, now: datetime) -> Plan:
    now = now.astimezone(UTC)
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if query.range == "24h":
        since, until, bucket = next_hour - timedelta(hours=24), next_hour, "hour"
    elif query.range == "custom":
        assert query.since is not None  # the model's rule
        assert query.until is not None
        since = datetime.combine(query.since, time(), UTC)
        until = datetime.combine(query.until + timedelta(days=1), time(), UTC)
        bucket = "hour" if until - since <= timedelta(days=2) else "day"
    else:
        since, until, bucket = midnight - timedelta(days=DAYS[query.range] - 1), next_hour, "day"
    group = f"tag:{query.tag}" if query.group_by == "tag" else query.group_by
    return Plan(since, until, bucket, group)


def figure(figures: CostFigures, metric: str) -> float:
    if metric == "tokens":
        return float(tokens(figures))
    if metric == "calls":
        return float(figures.events)
    return float(figures.cost_usd)


def tokens(figures: CostFigures) -> int:
    return (
        figures.input_tokens
        + figures.output_tokens
        + figures.cache_read_tokens
        + figures.cache_write_tokens
        + figures.cache_write_1h_tokens
    )


@dataclass(frozen=True)
class GroupRow:
    label: str  # as shown ("(none)" for an empty key)
    value: str  # the key's value as the API gave it
    figures: CostFigures
    tokens: int
    share: float  # of the range's total of the metric, in percent
    drill: str | None  # the URL of this group's rows one level down (None: the API cannot filter by it)
    series: list[CostPoint]  # for the stacked chart, not the table


@dataclass(frozen=True)
class BucketRow:
    start: datetime
    figures: CostFigures
    tokens: int


@dataclass(frozen=True)
class Explorer:
    query: ExplorerQuery
    plan: Plan
    totals: CostFigures
    total_tokens: int
    groups: list[GroupRow]
    buckets: list[BucketRow]
    truncated: bool
    dimension: str  # the words for what it is grouped by
    next_dimension: str | None  # what a drill-down groups by
    filters: list[tuple[str, str, str]]  # (label, value, URL without this filter)
    csv_url: str
    share_url: str

    def by_group_chart(self, path: str) -> dict[str, Any]:
        """Bars of the metric per group; a click on a bar opens its drill-down (`links`)."""
        rows = list(reversed(self.groups[:GROUPS_SHOWN]))  # the costliest at the top
        return {
            "kind": "bar",
            "horizontal": True,
            "unit": "usd" if self.query.metric == "cost" else "count",
            "title": f"{METRICS[self.query.metric]} by {self.dimension.lower()}",
            "labels": [row.label for row in rows],
            "values": [figure(row.figures, self.query.metric) for row in rows],
            "links": [row.drill for row in rows],
        }

    def over_time_chart(self) -> dict[str, Any]:
        """The metric per bucket, stacked by the first groups, the rest as "other"."""
        labels = [_bucket_label(b.start, self.plan.bucket) for b in self.buckets]
        index = {b.start: i for i, b in enumerate(self.buckets)}
        series = []
        stacked = [0.0] * len(self.buckets)
        for row in self.groups[:STACKED]:
            values = [0.0] * len(self.buckets)
            for point in row.series:
                i = index.get(point.bucket_start)
                if i is not None:
                    values[i] = figure(point, self.query.metric)
                    stacked[i] += values[i]
            series.append({"name": row.label, "values": values, "stack": "all"})
        other = [
            max(0.0, figure(b.figures, self.query.metric) - s)
            for b, s in zip(self.buckets, stacked, strict=True)
        ]
        if any(v > 1e-9 for v in other):
            series.append({"name": "other", "values": other, "stack": "all"})
        return {
            "kind": "bar",
            "unit": "usd" if self.query.metric == "cost" else "count",
            "title": f"{METRICS[self.query.metric]} per {self.plan.bucket}",
            "labels": labels,
            "series": series,
            "legend": True,
        }

    def latency_chart(self) -> dict[str, Any]:
        labels = [_bucket_label(b.start, self.plan.bucket) for b in self.buckets]
        return {
            "kind": "line",
            "unit": "ms",
            "title": f"Latency per {self.plan.bucket} (ms)",
            "labels": labels,
            "series": [
                {"name": "p50", "values": [b.figures.latency_p50_ms for b in self.buckets]},
                {"name": "p95", "values": [b.figures.latency_p95_ms for b in self.buckets]},
            ],
            "legend": True,
        }

    @property
    def has_latency(self) -> bool:
        return any(b.figures.latency_p50_ms is not None for b in self.buckets)


def _bucket_label(start: datetime, bucket: str) -> str:
    start = start.astimezone(UTC)
    return start.strftime("%b %d %H:00") if bucket == "hour" else start.strftime("%b %d")


def next_dimension(query: ExplorerQuery) -> str | None:
    """What a click on a group of `query.group_by` groups by next (None: no drill-down)."""
    if query.group_by not in FILTERS:
        return None  # status and tags are no filter of the API
    filtered = set(query.filters()) | {query.group_by}
    wanted = NEXT[query.group_by]
    if wanted not in filtered:
        return wanted
    return next((d for d in DRILL_ORDER if d not in filtered), None)


def build(
    query: ExplorerQuery, the_plan: Plan, grouped: CostReport, series: CostReport, path: str
) -> Explorer:
    then = next_dimension(query)
    total = figure(grouped.totals, query.metric)
    rows: list[GroupRow] = []
    for group in grouped.groups:
        value = next(iter(group.key.values()), "")
        drill = None
        if then is not None and value != "":
            drill = query.url(path, **{query.group_by: value, "group_by": then})
        rows.append(
            GroupRow(
                label=value or "(none)",
                value=value,
                figures=group.totals,
                tokens=tokens(group.totals),
                share=100 * figure(group.totals, query.metric) / total if total else 0.0,
                drill=drill,
                series=group.series,
            )
        )
    points = {p.bucket_start: p for g in series.groups for p in g.series}
    buckets = [BucketRow(start, points[start], tokens(points[start])) for start in sorted(points)]
    filters = [
        (DIMENSIONS.get(name, name), value, query.url(path, **{name: None}))
        for name, value in query.filters().items()
    ]
    return Explorer(
        query=query,
        plan=the_plan,
        totals=grouped.totals,
        total_tokens=tokens(grouped.totals),
        groups=rows,
        buckets=buckets,
        truncated=grouped.truncated,
        dimension=f"tag {query.tag}" if query.group_by == "tag" else DIMENSIONS[query.group_by],
        next_dimension=DIMENSIONS[then] if then else None,
        filters=filters,
        csv_url=query.url(path + ".csv"),
        share_url=query.url(path),
    )


CSV_COLUMNS = (
    "cost_usd",
    "events",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "unpriced_events",
    "errors",
    "latency_p50_ms",
    "latency_p95_ms",
)


def csv_text(query: ExplorerQuery, the_plan: Plan, grouped: CostReport) -> str:
    """The explorer's groups as CSV: one row per group and bucket, then each group's and the range's
    totals (bucket `total`), every figure exact as the API gave it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    dimension = the_plan.group_by
    writer.writerow(["since", "until", dimension, "bucket_start", *CSV_COLUMNS])
    span = [the_plan.since.isoformat(), the_plan.until.isoformat()]

    def figures(f: CostFigures) -> list[str]:
        return ["" if getattr(f, c) is None else str(getattr(f, c)) for c in CSV_COLUMNS]

    for group in grouped.groups:
        value = next(iter(group.key.values()), "")
        for point in group.series:
            writer.writerow(
                [*span, _safe(value), point.bucket_start.astimezone(UTC).isoformat(), *figures(point)]
            )
        writer.writerow([*span, _safe(value), "total", *figures(group.totals)])
    writer.writerow([*span, "(all)", "total", *figures(grouped.totals)])
    return out.getvalue()


def _safe(value: str) -> str:
    """A cell a spreadsheet would read as a formula is quoted with a leading apostrophe (CSV injection:
    project and user names are the callers' free text)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
