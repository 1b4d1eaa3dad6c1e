"""OpenTelemetry GenAI spans → `TokenEventIn`, per the GenAI semantic conventions.

Source: the OpenTelemetry GenAI semantic conventions (``open-telemetry/semantic-conventions-genai``,
``model/gen-ai/registry.yaml`` and ``spans.yaml``; formerly ``docs/gen-ai`` of
``open-telemetry/semantic-conventions``). Attributes read, and how:

A span is a GenAI call when it has ``gen_ai.operation.name``, ``gen_ai.provider.name`` (current) or
``gen_ai.system`` (deprecated, renamed to ``gen_ai.provider.name``) and at least one usage attribute.
Anything else is *ignored* (not an error). Spans whose operation aggregates other calls
(``invoke_agent``, ``invoke_workflow``, ``create_agent``, ``execute_tool``, ``plan``, memory and
retrieval operations) are ignored too: agent spans may carry ``gen_ai.usage.*`` summed over their
child inference spans, so counting them would count those tokens twice.

- provider: ``gen_ai.provider.name``, else ``gen_ai.system``; normalised by `PROVIDER_IDS` to the ids
  our price source knows (``gcp.gemini``/``gcp.vertex_ai``/``gcp.gen_ai``/``gemini``/``vertex_ai`` →
  ``gemini``, ``azure.ai.openai``/``az.ai.openai`` → ``openai``, ``aws.bedrock`` → ``bedrock``,
  ``x_ai``/``xai`` → ``xai``, ``mistral_ai`` → ``mistral``, ...); unknown values are lower-cased.
- model: ``gen_ai.response.model`` (the model that answered), else ``gen_ai.request.model``.
- tokens: ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``,
  ``gen_ai.usage.cache_read.input_tokens``, ``gen_ai.usage.cache_creation.input_tokens``,
  ``gen_ai.usage.reasoning.output_tokens``. Older names are read when the current one is absent:
  ``gen_ai.usage.prompt_tokens`` / ``gen_ai.usage.completion_tokens`` (deprecated renames), and the
  names some instrumentations emit (``gen_ai.usage.cache_read_input_tokens``,
  ``gen_ai.usage.cache_creation_input_tokens``, ``gen_ai.usage.input_tokens.cached``,
  ``gen_ai.usage.input_tokens.cache_write``, ``gen_ai.usage.output_tokens.reasoning``,
  ``gen_ai.usage.reasoning_tokens``).
- 1-hour cache writes (Anthropic's ``usage.cache_creation.ephemeral_1h_input_tokens``; no
  convention names them yet): ``gen_ai.usage.cache_creation.ephemeral_1h_input_tokens`` (the name
  instrumentations that report the split use, after Anthropic's field),
  ``gen_ai.usage.cache_creation.ephemeral_1h.input_tokens`` and Dash0's
  ``dash0.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens``. Like Anthropic's own total,
  ``gen_ai.usage.cache_creation.input_tokens`` counts them too, so the 5-minute writes are
  ``cache_creation - 1h`` (the bucket rule below; when the 1-hour count exceeds it, the cache
  creation count is taken as the 5-minute writes alone).

  **Bucket rule.** The conventions say ``gen_ai.usage.input_tokens`` SHOULD include all input tokens,
  cached ones too (cache read and cache creation "SHOULD be included in" it), and
  ``gen_ai.usage.output_tokens`` SHOULD include the reasoning tokens. Our buckets are disjoint, so
  ``input_tokens = input - cache_read - cache_creation`` (1-hour writes included) and
  ``output_tokens = output - reasoning``.
  When the parts exceed the whole, the instrumentation cannot have followed that rule (e.g. it copied
  Anthropic's own ``input_tokens``, which exclude cache tokens): the reported value is then taken as
  already disjoint.
- request id: ``gen_ai.response.id``.
- timestamp: span start (``now`` when missing; refused when further in the future than our JSON
  batches allow); latency: end - start (none when the end is missing or before the start).
- status: error when the span status code is ERROR or ``error.type`` is set.
- user: ``user.id``, else ``enduser.id`` (deprecated).
- project: ``mno.project``, else the resource's ``service.name`` (the SDK's ``unknown_service``
  default is no project).
- tags: every ``mno.tag.<key>`` attribute, as ``<key>`` → its value as a string.
- prompt: ``mno.prompt.name``, else ``gen_ai.prompt.name``; ``mno.prompt.version``.
- id: ``<32-hex trace id>:<16-hex span id>``, so a span exported twice is counted once.

Context attributes (provider, model, user, project, tags, prompt) may sit on the resource, the scope or
the span; the span wins over the scope, the scope over the resource. Per-call attributes (operation,
usage, response id, ``error.type``) are read from the span alone: on a resource they would apply to
every span of the service. Attribute values may be any scalar ``AnyValue`` (OTLP/JSON sends 64-bit
ints as strings; some SDKs send counts as doubles or strings).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from pydantic import ValidationError

from services.ingest.token_events import MAX_CLOCK_SKEW
from shared.messages.telemetry import CallStatus, TokenEventIn

PROVIDER_IDS: Final[Mapping[str, str]] = {
    "openai": "openai",
    "azure.ai.openai": "openai",
    "az.ai.openai": "openai",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "anthropic": "anthropic",
    "gcp.gemini": "gemini",
    "gcp.vertex_ai": "gemini",
    "gcp.gen_ai": "gemini",
    "gemini": "gemini",
    "vertex_ai": "gemini",
    "google": "gemini",
    "aws.bedrock": "bedrock",
    "cohere": "cohere",
    "ibm.watsonx.ai": "watsonx",
    "perplexity": "perplexity",
    "x_ai": "xai",
    "xai": "xai",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral_ai": "mistral",
    "moonshot_ai": "moonshotai",
}

# Operations whose spans wrap inference calls rather than being one.
AGGREGATE_OPERATIONS: Final = frozenset(
    {
        "invoke_agent",
        "create_agent",
        "invoke_workflow",
        "execute_tool",
        "plan",
        "retrieval",
        "search_memory",
        "create_memory",
        "update_memory",
        "upsert_memory",
        "delete_memory",
        "create_memory_store",
        "delete_memory_store",
    }
)

INPUT_TOKENS: Final = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS: Final = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ_TOKENS: Final = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
)
CACHE_WRITE_TOKENS: Final = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.input_tokens.cache_write",
)
CACHE_WRITE_1H_TOKENS: Final = (
    "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens",
    "gen_ai.usage.cache_creation.ephemeral_1h.input_tokens",
    "dash0.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens",
)
REASONING_TOKENS: Final = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "gen_ai.usage.reasoning_tokens",
)
_USAGE_KEYS: Final = frozenset().union(
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    CACHE_WRITE_1H_TOKENS,
    REASONING_TOKENS,
)

TAG_PREFIX: Final = "mno.tag."
_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class SpanRef:
    """Which span of the request an outcome is about (ids as lower-case hex)."""

    trace_id: str
    span_id: str
    name: str


@dataclass
class OtlpMapping:
    """What became of a request's spans: token events, GenAI spans we refused (with why), and the rest."""

    events: list[tuple[SpanRef, TokenEventIn]] = field(default_factory=list)
    rejected: list[tuple[SpanRef, str]] = field(default_factory=list)
    ignored: int = 0


class _Rejected(Exception):
    """A GenAI span that cannot become a token event; the message says why."""


Attributes = Mapping[str, AnyValue]


def _attributes(key_values: Iterable[KeyValue]) -> dict[str, AnyValue]:
    return {kv.key: kv.value for kv in key_values}


def _scalar(value: AnyValue | None) -> str | int | float | bool | None:
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    return None  # arrays, key-value lists, bytes and empty values carry no name or count


def _stringify(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text(attributes: Attributes, *keys: str) -> str | None:
    """The first of `keys` holding a non-blank scalar, as a string (a prompt version may be sent as 3)."""
    for key in keys:
        value = _scalar(attributes.get(key))
        if value is None:
            continue
        text = _stringify(value).strip()
        if text:
            return text
    return None


def _count(attributes: Attributes, keys: tuple[str, ...]) -> int | None:
    """The first of `keys` present, as a non-negative integer; `_Rejected` when it is not one."""
    for key in keys:
        if key not in attributes:
            continue
        value = _scalar(attributes[key])
        if isinstance(value, bool) or value is None:
            raise _Rejected(f"{key} is not an integer")
        if isinstance(value, float):
            if not value.is_integer():
                raise _Rejected(f"{key} is not an integer: {value}")
            value = int(value)
        elif isinstance(value, str):
            if not _INTEGER.match(value.strip()):
                raise _Rejected(f"{key} is not an integer: {value[:32]!r}")
            value = int(value.strip())
        if value < 0:
            raise _Rejected(f"{key} is negative: {value}")
        return value
    return None


def _without(whole: int, *parts: int) -> int:
    """`whole` minus the parts it includes; `whole` itself when the parts exceed it (it excluded them)."""
    rest = whole - sum(parts)
    return rest if rest >= 0 else whole


def normalise_provider(value: str) -> str:
    """Our provider id for a `gen_ai.provider.name` / `gen_ai.system` value."""
    key = value.strip().lower()
    return PROVIDER_IDS.get(key, key)


def _datetime(unix_nano: int) -> datetime:
    seconds, nanos = divmod(unix_nano, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanos // 1000)


def _project(merged: Attributes, resource: Attributes) -> str | None:
    project = _text(merged, "mno.project")
    if project is not None:
        return project
    service = _text(resource, "service.name")
    if service is None or service.startswith("unknown_service"):
        return None
    return service


def _tags(merged: Attributes) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key in merged:
        value = _scalar(merged[key]) if key.startswith(TAG_PREFIX) else None
        if value is not None:
            tags[key[len(TAG_PREFIX) :]] = _stringify(value)
    return tags


def _validation_reason(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "event"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def _is_genai(span_attributes: Attributes, merged: Attributes) -> bool:
    if not (
        "gen_ai.operation.name" in span_attributes
        or "gen_ai.provider.name" in merged
        or "gen_ai.system" in merged
    ):
        return False
    if _text(span_attributes, "gen_ai.operation.name") in AGGREGATE_OPERATIONS:
        return False
    return any(key in span_attributes for key in _USAGE_KEYS)


def _event(
    span: Span,
    span_attributes: Attributes,
    merged: Attributes,
    resource: Attributes,
    ref: SpanRef,
    now: datetime,
) -> TokenEventIn:
    provider = _text(merged, "gen_ai.provider.name", "gen_ai.system")
    if provider is None:
        raise _Rejected("no gen_ai.provider.name or gen_ai.system")
    model = _text(merged, "gen_ai.response.model", "gen_ai.request.model")
    if model is None:
        raise _Rejected("no gen_ai.response.model or gen_ai.request.model")
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise _Rejected("trace id must be 16 bytes and span id 8 bytes")

    input_total = _count(span_attributes, INPUT_TOKENS) or 0
    output_total = _count(span_attributes, OUTPUT_TOKENS) or 0
    cache_read = _count(span_attributes, CACHE_READ_TOKENS) or 0
    cache_write_1h = _count(span_attributes, CACHE_WRITE_1H_TOKENS) or 0
    # The cache creation count includes the 1-hour writes (as Anthropic's own total does); one
    # smaller than them counted the 5-minute writes alone.
    cache_creation = _count(span_attributes, CACHE_WRITE_TOKENS)
    cache_write = 0 if cache_creation is None else _without(cache_creation, cache_write_1h)
    reasoning = _count(span_attributes, REASONING_TOKENS) or 0

    if span.start_time_unix_nano:
        timestamp = _datetime(span.start_time_unix_nano)
        # The same bound as our JSON batches: a span from the future is a broken clock, not spend.
        if timestamp > now + MAX_CLOCK_SKEW:
            raise _Rejected(f"span starts more than {int(MAX_CLOCK_SKEW.total_seconds())} s in the future")
    else:
        timestamp = now
    latency_ms: float | None = None
    if span.start_time_unix_nano and span.end_time_unix_nano >= span.start_time_unix_nano:
        latency_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1_000_000

    failed = span.status.code == Status.STATUS_CODE_ERROR or _text(span_attributes, "error.type") is not None
    try:
        return TokenEventIn(
            id=ref.trace_id + ":" + ref.span_id,
            timestamp=timestamp,
            provider=normalise_provider(provider),
            model=model,
            input_tokens=_without(input_total, cache_read, cache_write, cache_write_1h),
            output_tokens=_without(output_total, reasoning),
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=cache_write_1h,
            reasoning_tokens=reasoning,
            latency_ms=latency_ms,
            status=CallStatus.ERROR if failed else CallStatus.OK,
            user=_text(merged, "user.id", "enduser.id"),
            project=_project(merged, resource),
            tags=_tags(merged),
            prompt_name=_text(merged, "mno.prompt.name", "gen_ai.prompt.name"),
            prompt_version=_text(merged, "mno.prompt.version"),
            request_id=_text(span_attributes, "gen_ai.response.id"),
        )
    except ValidationError as exc:
        raise _Rejected(_validation_reason(exc)) from exc


def spans_to_events(request: ExportTraceServiceRequest, *, now: datetime) -> OtlpMapping:
    """Map every span of `request`: GenAI calls to token events, unmappable ones to reasons, others ignored.

    `now` (aware) dates spans without a start time and bounds how far in the future a span may start.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    mapping = OtlpMapping()
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scoped = {**resource, **_attributes(scope_spans.scope.attributes)}
            for span in scope_spans.spans:
                span_attributes = _attributes(span.attributes)
                merged = {**scoped, **span_attributes}
                if not _is_genai(span_attributes, merged):
                    mapping.ignored += 1
                    continue
                ref = SpanRef(trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), name=span.name)
                try:
                    event = _event(span, span_attributes, merged, resource, ref, now)
                except _Rejected as exc:
                    mapping.rejected.append((ref, str(exc)))
                else:
                    mapping.events.append((ref, event))
    return mapping
