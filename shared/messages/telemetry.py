"""Token events: one LLM call's usage as clients report it, and as it travels to the MonitoringAgent.

Token counts are *disjoint* buckets, every token in exactly one of them (the same buckets as
`services.pricing.Usage`): `input_tokens` are uncached prompt tokens only, `cache_read_tokens` and
`cache_write_tokens` the prompt tokens read from / written to the provider's prompt cache (writes of
its default lifetime; Anthropic's 5 minutes), `cache_write_1h_tokens` the writes to Anthropic's 1-hour
cache (priced higher; not part of `cache_write_tokens`), `output_tokens` visible output,
`reasoning_tokens` thinking tokens billed as output. The SDK and the OTLP mapping convert providers'
own shapes (e.g. OpenAI's `prompt_tokens` *includes* cached tokens) into these buckets.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    StrictFloat,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

MAX_EVENTS_PER_BATCH = 1000
MAX_TAGS = 20

EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ShortName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-/]+$")]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")]
TagValue = Annotated[str, StringConstraints(max_length=256)]
# Strict: JSON's `"1000"` or `true` is a client bug, not 1000 or 1 token (the SDK refuses them too).
TokenCount = Annotated[StrictInt, Field(ge=0, le=100_000_000)]
# The token fields a reporter may have had to estimate (see `TokenEventIn.estimated_counts`).
EstimatedCount = Literal[
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
]


def _rfc3339_only(value: object) -> object:
    # pydantic would read 1700000000 or "1700000000" as Unix time (guessing seconds or milliseconds):
    # the contract is RFC 3339 text, so a number is refused rather than guessed at.
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        raise ValueError("a timestamp is RFC 3339 text with an offset, not a number")
    return value


EventTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]


class CallStatus(StrEnum):
    OK = "ok"
    ERROR = "error"


class TokenEventIn(BaseModel):
    """One LLM call as a client reports it (`POST /api/v1/token-events`, the SDK, OTLP spans)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EventId | None = Field(
        default=None,
        description="Your unique id for this call; a resend with the same id is counted once. "
        "Assigned by the server (and returned) when absent: such events cannot be deduplicated.",
    )
    timestamp: EventTime | None = Field(
        default=None, description="When the call was made (RFC 3339 with offset); the receive time if absent."
    )
    provider: ShortName = Field(description="openai, anthropic, gemini, ... (as the price source names it).")
    model: Name
    input_tokens: TokenCount = Field(default=0, description="Uncached input tokens only.")
    output_tokens: TokenCount = Field(default=0, description="Output tokens, excluding reasoning tokens.")
    cache_read_tokens: TokenCount = 0
    cache_write_tokens: TokenCount = Field(
        default=0, description="Prompt-cache writes of the default lifetime (Anthropic: 5 minutes)."
    )
    cache_write_1h_tokens: TokenCount = Field(
        default=0,
        description="Anthropic's 1-hour cache writes (`cache_creation.ephemeral_1h_input_tokens`), "
        "not counted in cache_write_tokens.",
    )
    reasoning_tokens: TokenCount = 0
    latency_ms: StrictFloat | None = Field(
        default=None, ge=0, le=86_400_000, description="A JSON number (not a string)."
    )
    status: CallStatus = CallStatus.OK
    user: Name | None = None
    project: Name | None = None
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=MAX_TAGS)
    prompt_name: Name | None = None
    prompt_version: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    request_id: Name | None = Field(default=None, description="The provider's request id, for support.")
    estimated_counts: list[EstimatedCount] = Field(
        default_factory=list,
        max_length=6,
        description="Token fields the reporter could not know exactly (e.g. an instrumentation that sends "
        "no cached-token count: cached input is then counted, and priced, as uncached input).",
    )


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


class EventRejection(BaseModel):
    """Why the event at `index` of a batch was not accepted."""

    index: int
    id: str | None = None
    errors: list[dict[str, object]]


class IngestResult(BaseModel):
    """The answer to a batch: each event is accepted (new), a duplicate, or rejected (by index).

    A duplicate is an event whose id the team sent before and the edge accepted, in any batch or
    grouping, within the duplicate window (`ingest.duplicate_window_days`, 7 days by default). It is
    neither counted against the plan nor charged to a budget again, and is answered as a duplicate
    even at the plan's monthly limit. An id whose earlier request failed (not accepted) is new. A
    resend after the window is answered as accepted (and counted against the plan again), yet stored
    once: the MonitoringAgent drops it by id. Ids are per team: another team's ids are its own."""

    accepted: int
    rejected: int
    ids: list[str] = Field(description="Ids of the accepted events (new ones), in request order.")
    errors: list[EventRejection] = Field(default_factory=list)
    duplicates: int = Field(default=0, description="Events recognised as sent before (see `duplicate_ids`).")
    duplicate_ids: list[str] = Field(
        default_factory=list, description="Ids of the events recognised as sent before, in request order."
    )


class TokenEventBatch(BaseModel):
    """`POST /api/v1/token-events`: events are validated one by one, so one bad event does not sink
    the batch (hence no validation here: the edge validates each and reports it by index)."""

    model_config = ConfigDict(extra="forbid")

    events: list[SkipValidation[TokenEventIn]] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


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

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime
    until: AwareDatetime
    bucket: Bucket | None = Field(default=None, description="Time series bucket; totals only when absent.")
    group_by: list[GroupKey] = Field(
        default_factory=list,
        max_length=4,
        description="Comma-separated: project, user, provider, model (the model as the price source "
        "names it: dated snapshots of a model are one group), model_raw (the name as reported), "
        "prompt_name, prompt_version, status, api_key_id, or tag:<key> (at most one tag, and a tag only "
        "with no other dimension).",
    )
    provider: str | None = None
    model: str | None = Field(default=None, description="The model as the price source names it.")
    model_raw: str | None = Field(default=None, description="The model name exactly as reported.")
    project: str | None = None
    user: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    api_key_id: str | None = None
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

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime
    until: AwareDatetime
    limit: int = Field(default=200, ge=1, le=1000)


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
