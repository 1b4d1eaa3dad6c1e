"""Token events on the wire: one LLM call's usage as clients report it, and the edge's answer.

`POST /api/v1/token-events` takes a `TokenEventBatch` of `TokenEventIn` and answers an `IngestResult`.
The SDK validates each event with this model where it is recorded; the edge validates it with the
same model, so a client and the server cannot disagree on what is valid.

Token counts are *disjoint* buckets, every token in exactly one of them (the buckets of
`mno_wire.usage.Usage`): `input_tokens` are uncached prompt tokens only, `cache_read_tokens` and
`cache_write_tokens` the prompt tokens read from / written to the provider's prompt cache (writes of
its default lifetime; Anthropic's 5 minutes), `cache_write_1h_tokens` the writes to Anthropic's 1-hour
cache (priced higher; not part of `cache_write_tokens`), `output_tokens` visible output,
`reasoning_tokens` thinking tokens billed as output. The SDK and the OTLP mapping convert providers'
own shapes (e.g. OpenAI's `prompt_tokens` *includes* cached tokens) into these buckets.
"""

# No `from __future__ import annotations` and no `X | None`: pydantic evaluates these annotations at
# import, and this package supports Python 3.9 (hence `Optional`, and `str, Enum` for `StrEnum`).
from enum import Enum
from typing import Annotated, Literal, Optional

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
)

__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "MAX_TAGS",
    "CallStatus",
    "EstimatedCount",
    "EventId",
    "EventRejection",
    "EventTime",
    "IngestResult",
    "Name",
    "ShortName",
    "TagKey",
    "TagValue",
    "TokenCount",
    "TokenEventBatch",
    "TokenEventIn",
]

MAX_EVENTS_PER_BATCH = 1000
MAX_TAGS = 20

EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
]
# Free text holds no control character (U+0000-U+001F, U+007F-U+009F): the server's `Text` rule
# (shared/messages/fields.py, which this package cannot import; a test keeps the two equal).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=TEXT_PATTERN)]
ShortName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-/]+$")]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")]
TagValue = Annotated[str, StringConstraints(max_length=256, pattern=TEXT_PATTERN)]
PromptVersion = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TEXT_PATTERN)]
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
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        raise ValueError("a timestamp is RFC 3339 text with an offset, not a number")
    return value


EventTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]


# `StrEnum` (3.11+) by hand: `str()` and f-strings give the value, as they would there. (A comment,
# not a docstring: pydantic would put a docstring into the API's JSON schema.)
class CallStatus(str, Enum):
    OK = "ok"
    ERROR = "error"

    def __str__(self) -> str:
        return str(self.value)


class TokenEventIn(BaseModel):
    """One LLM call as a client reports it (`POST /api/v1/token-events`, the SDK, OTLP spans)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Optional[EventId] = Field(
        default=None,
        description="Your unique id for this call; a resend with the same id is counted once. "
        "Assigned by the server (and returned) when absent: such events cannot be deduplicated.",
    )
    timestamp: Optional[EventTime] = Field(
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
    latency_ms: Optional[StrictFloat] = Field(
        default=None, ge=0, le=86_400_000, description="A JSON number (not a string)."
    )
    status: CallStatus = CallStatus.OK
    user: Optional[Name] = None
    project: Optional[Name] = None
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=MAX_TAGS)
    prompt_name: Optional[Name] = None
    prompt_version: Optional[PromptVersion] = None
    request_id: Optional[Name] = Field(default=None, description="The provider's request id, for support.")
    estimated_counts: list[EstimatedCount] = Field(
        default_factory=list,
        max_length=6,
        description="Token fields the reporter could not know exactly (e.g. an instrumentation that sends "
        "no cached-token count: cached input is then counted, and priced, as uncached input).",
    )


class EventRejection(BaseModel):
    """Why the event at `index` of a batch was not accepted."""

    index: int
    id: Optional[str] = None
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
