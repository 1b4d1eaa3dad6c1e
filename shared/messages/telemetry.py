"""Token events: one LLM call's usage as clients report it, and as it travels to the MonitoringAgent.

What a client sends and is answered (`TokenEventIn`, `TokenEventBatch`, `IngestResult`, ...) is the
wire contract the SDK shares: it lives in the `mno_wire` distribution (`mno_wire.token_events`, where
the token buckets are explained) and is re-exported here. What only the server uses -- the bus's
`TokenEvent` and its columns, cost and anomaly queries and reports -- is defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

from mno_wire.token_events import (
    MAX_EVENTS_PER_BATCH,
    MAX_TAGS,
    CallStatus,
    EventId,
    EventRejection,
    EventTime,
    IngestResult,
    TokenEventBatch,
    TokenEventIn,
)
from shared.messages.fields import Text, Timestamp

__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "MAX_TAGS",
    "AnomalyInfo",
    "AnomalyList",
    "AnomalyQuery",
    "Bucket",
    "CallStatus",
    "CostFigures",
    "CostGroup",
    "CostPoint",
    "CostQuery",
    "CostReport",
    "Dimension",
    "EventId",
    "EventRejection",
    "EventTime",
    "GroupKey",
    "IngestResult",
    "TokenEvent",
    "TokenEventBatch",
    "TokenEventColumns",
    "TokenEventIn",
    "TokenEventsAccepted",
]


class TokenEvent(TokenEventIn):
    """A validated event as it travels on the bus: id and timestamp always set (the edge fills them
    in when the client leaves them out). Validated at the edge in one pass with the client's fields."""

    id: EventId
    timestamp: EventTime


_EVENT_LIST = TypeAdapter(list[TokenEvent])


class TokenEventColumns(BaseModel):
    """Accepted token events column-wise: one list per field of `TokenEvent`, all of one length.

    The bus carries batches this way because parsing and pricing a column of values costs a
    fraction of validating one object per event, on the MonitoringAgent's busiest path; the lists
    also go to ClickHouse as they are. Built by the edge from validated `TokenEvent`s (`of`)."""

    model_config = ConfigDict(frozen=True)

    id: list[str]
    timestamp: list[AwareDatetime]
    provider: list[str]
    model: list[str]
    input_tokens: list[int]
    output_tokens: list[int]
    cache_read_tokens: list[int]
    cache_write_tokens: list[int]
    cache_write_1h_tokens: list[int]
    reasoning_tokens: list[int]
    latency_ms: list[float | None]
    status: list[CallStatus]
    user: list[str | None]
    project: list[str | None]
    tags: list[dict[str, str]]
    prompt_name: list[str | None]
    prompt_version: list[str | None]
    request_id: list[str | None]
    estimated_counts: list[list[str]]

    @model_validator(mode="before")
    @classmethod
    def _columns_of_earlier_versions(cls, value: object) -> object:
        # Columns published before a field existed (still in the stream during an upgrade) decode
        # with its neutral value (no tokens of a kind, nothing estimated) instead of being dead-lettered.
        if isinstance(value, dict) and isinstance(value.get("id"), list):
            rows = len(value["id"])
            if "cache_write_1h_tokens" not in value:
                value = {**value, "cache_write_1h_tokens": [0] * rows}
            if "estimated_counts" not in value:
                value = {**value, "estimated_counts": [[] for _ in range(rows)]}
        return value

    @model_validator(mode="after")
    def _one_length(self) -> TokenEventColumns:
        lengths = {name: len(getattr(self, name)) for name in type(self).model_fields}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns differ in length: {lengths}")
        return self

    @classmethod
    def of(cls, events: Sequence[TokenEvent]) -> TokenEventColumns:
        """The columns of events validated already (so they are not validated again)."""
        columns: dict[str, Any] = {
            name: [getattr(event, name) for event in events] for name in cls.model_fields
        }
        return cls.model_construct(**columns)

    def __len__(self) -> int:
        return len(self.id)


class TokenEventsAccepted(BaseModel):
    """Durable event: a batch of token events accepted at the edge, to be priced and stored. The team
    is the envelope principal's (a payload never names the team it acts for)."""

    api_key_id: str | None = None
    received_at: datetime
    events: TokenEventColumns

    @field_validator("events", mode="before")
    @classmethod
    def _rows_of_earlier_versions(cls, value: object) -> object:
        # Messages published before events travelled column-wise (a list of events) may still be in
        # the stream during an upgrade: they decode to the same columns instead of being dead-lettered.
        if isinstance(value, list):
            return TokenEventColumns.of(_EVENT_LIST.validate_python(value))
        return value


class Bucket(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


class Dimension(StrEnum):
    """What costs can be grouped and filtered by (a tag is `tag:<key>`)."""

    PROJECT = "project"
    USER = "user"
    PROVIDER = "provider"
    MODEL = "model"  # as the price source names it (`gpt-4o-mini` for `gpt-4o-mini-2024-07-18` too)
    MODEL_RAW = "model_raw"  # as the client reported it
    PROMPT_NAME = "prompt_name"
    PROMPT_VERSION = "prompt_version"
    STATUS = "status"
    API_KEY = "api_key_id"


GroupKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^(project|user|provider|model|model_raw|prompt_name|prompt_version|status|api_key_id"
        r"|tag:[A-Za-z0-9._\-]{1,64})$"
    ),
]


class CostQuery(BaseModel):
    """`GET /api/v1/costs`: your team's spend between `since` and `until`, totals and a time series."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "x-mno-rules": [
                "until > since",
                "group_by: a tag alone, not with other dimensions",
                "group_by: no dimension twice",
            ]
        },
    )

    since: Timestamp = Field(description="RFC 3339 with offset (inclusive).")
    until: Timestamp = Field(description="RFC 3339 with offset (exclusive); after since.")
    bucket: Bucket | None = Field(default=None, description="Time series bucket; totals only when absent.")
    group_by: list[GroupKey] = Field(
        default_factory=list,
        max_length=4,
        description="Comma-separated: project, user, provider, model (the model as the price source "
        "names it: dated snapshots of a model are one group), model_raw (the name as reported), "
        "prompt_name, prompt_version, status, api_key_id, or tag:<key> (at most one tag, and a tag only "
        "with no other dimension).",
    )
    provider: Text | None = Field(default=None, max_length=256)
    model: Text | None = Field(
        default=None, max_length=256, description="The model as the price source names it."
    )
    model_raw: Text | None = Field(
        default=None, max_length=256, description="The model name exactly as reported."
    )
    project: Text | None = Field(default=None, max_length=256)
    user: Text | None = Field(default=None, max_length=256)
    prompt_name: Text | None = Field(default=None, max_length=256)
    prompt_version: Text | None = Field(default=None, max_length=256)
    api_key_id: Text | None = Field(default=None, max_length=256)
    limit: int = Field(default=100, ge=1, le=1000, description="At most this many groups, by cost.")

    @field_validator("group_by", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> CostQuery:
        if self.until <= self.since:
            raise ValueError("until must be after since")
        tags = [key for key in self.group_by if key.startswith("tag:")]
        if tags and len(self.group_by) > 1:
            raise ValueError("group by one tag alone, not with other dimensions")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError("group_by names a dimension twice")
        return self


class CostFigures(BaseModel):
    """Spend and usage of one group (or bucket): exact USD, token sums, latency percentiles."""

    cost_usd: Decimal
    events: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int
    unpriced_events: int = Field(description="Events of models without a known price (cost counted as 0).")
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class CostPoint(CostFigures):
    bucket_start: datetime


class CostGroup(BaseModel):
    key: dict[str, str]
    totals: CostFigures
    series: list[CostPoint] = Field(default_factory=list)


class CostReport(BaseModel):
    team_id: str
    since: datetime
    until: datetime
    bucket: Bucket | None
    group_by: list[str]
    totals: CostFigures
    groups: list[CostGroup]
    truncated: bool = Field(description="More groups matched than `limit`; the costliest are shown.")


class AnomalyQuery(BaseModel):
    """`GET /api/v1/anomalies`: anomalies of your team's spend and token rate between two instants."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"x-mno-rules": ["until > since"]})

    since: Timestamp = Field(description="RFC 3339 with offset (inclusive).")
    until: Timestamp = Field(description="RFC 3339 with offset (exclusive); after since.")
    limit: int = Field(default=200, ge=1, le=1000)

    @model_validator(mode="after")
    def _range(self) -> AnomalyQuery:
        if self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class AnomalyInfo(BaseModel):
    metric: str = Field(description="cost_usd or tokens, per hour.")
    model: str
    hour: datetime
    observed: float
    expected: float
    score: float = Field(description="Robust z-score against the series' own seasonal baseline.")
    direction: str


class AnomalyList(BaseModel):
    anomalies: list[AnomalyInfo]


DROPPED_SPANS_MAX_DAYS = 31


class DroppedSpansQuery(BaseModel):
    """`GET /api/v1/ingest/dropped-spans`: OTLP spans of your team that became no token event."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"x-mno-rules": ["until > since", "at most 31 days"]}
    )

    since: Timestamp | None = Field(
        default=None,
        description="RFC 3339 with offset (inclusive, read by whole hour); default until - 24 h.",
    )
    until: Timestamp | None = Field(
        default=None, description="RFC 3339 with offset (exclusive); after since; default now."
    )

    @model_validator(mode="after")
    def _range(self) -> DroppedSpansQuery:
        if self.since is not None and self.until is not None:
            if self.until <= self.since:
                raise ValueError("until must be after since")
            if self.until - self.since > timedelta(days=DROPPED_SPANS_MAX_DAYS):
                raise ValueError(f"the range is at most {DROPPED_SPANS_MAX_DAYS} days")
        return self


class DroppedSpansGroup(BaseModel):
    """Spans of one reason (and emitting library, in `by_library`) that became no token event."""

    reason: str = Field(description="services.ingest.otlp_genai.DropReason: no_usage, invalid, refused, ...")
    library: str | None = Field(
        default=None, description="The emitting library; absent in the reason totals."
    )
    spans: int
    loses_money: bool = Field(
        description="Model calls that happened but are not counted (no_usage, invalid, refused)."
    )
    meaning: str
    fix: str | None = Field(description="What to do about it; absent for expected drops.")
    example: str = Field(description="One span's name and detail (up to 200 characters).")


class DroppedSpansReport(BaseModel):
    team_id: str
    since: datetime
    until: datetime
    total: int
    by_reason: list[DroppedSpansGroup] = Field(description="Money-losing reasons first, then by spans.")
    by_library: list[DroppedSpansGroup]
