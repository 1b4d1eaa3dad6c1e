"""OpenTelemetry GenAI spans → `TokenEventIn`, per the GenAI semantic conventions and the libraries
that emit them (docs/INSTRUMENTATIONS.md has the library x provider table).

Sources: the OpenTelemetry GenAI semantic conventions (``open-telemetry/semantic-conventions-genai``,
``model/gen-ai/registry.yaml`` and ``spans.yaml``), OpenInference's semantic conventions
(``Arize-ai/openinference``, ``llm.*``), and each instrumentation library's own source (see
`services.ingest.otlp_libraries`). Attributes read, and how:

A span is a model call when its own attributes include ``gen_ai.*`` or ``llm.*`` names (or
``openinference.span.kind``) and at least one token count. Every other span is *dropped with a
reason* (`DropReason`), reported back in OTLP's ``partial_success`` and counted by the edge: not
GenAI at all; an aggregate (``invoke_agent``, ``invoke_workflow``, ``create_agent``,
``execute_tool``, ``plan``, memory and retrieval operations; OpenInference kinds other than LLM and
EMBEDDING): their usage sums their child calls, so counting them would count those tokens twice; a
call without counts (an OpenAI stream without ``include_usage``); unreadable values; or another
report of a call already mapped.

- provider: ``gen_ai.provider.name``, else ``gen_ai.system`` (deprecated), else OpenInference's
  ``llm.provider`` / ``llm.system``; normalised by `PROVIDER_IDS` to the ids our price source knows
  (``gcp.gemini``/``gcp.vertex_ai``/``gemini``/``vertexai``/``google`` → ``gemini``,
  ``azure.ai.openai`` → ``openai``, ``aws.bedrock`` → ``bedrock``, ``mistral_ai``/``mistralai`` →
  ``mistral``, ...); unknown values are lower-cased.
- model: ``gen_ai.response.model`` (the model that answered), else ``gen_ai.request.model``, else
  ``llm.model_name`` / ``embedding.model_name``.
- tokens: ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``,
  ``gen_ai.usage.cache_read.input_tokens``, ``gen_ai.usage.cache_creation.input_tokens`` (and the
  registry's newer ``gen_ai.usage.cache_write.input_tokens``), ``gen_ai.usage.reasoning.output_tokens``;
  older and library names when the current one is absent (``prompt_tokens``/``completion_tokens``,
  ``cache_read_input_tokens``, ``cache_creation_input_tokens``, ``cache_write_input_tokens``,
  ``input_tokens.cached``, ``input_tokens.cache_write``, ``output_tokens.reasoning``,
  ``reasoning_tokens``) and OpenInference's ``llm.token_count.{prompt,completion}``,
  ``llm.token_count.prompt_details.{cache_read,cache_write}``,
  ``llm.token_count.completion_details.reasoning``. Totals: ``gen_ai.usage.total_tokens``,
  ``llm.usage.total_tokens`` (Traceloop), ``llm.token_count.total`` (OpenInference). LiteLLM's
  spans also carry its whole usage as ``metadata.usage_object`` (`services.ingest.otlp_litellm`):
  the cache, 1-hour and reasoning counts its ``gen_ai.usage.*`` leave out are read from it.
- 1-hour cache writes (Anthropic's ``usage.cache_creation.ephemeral_1h_input_tokens``; no
  convention names them yet): ``gen_ai.usage.cache_creation.ephemeral_1h_input_tokens``, the
  anthropic SDK's ``anthropic.usage.cache_creation.ephemeral_1h_input_tokens``,
  ``gen_ai.usage.cache_creation.ephemeral_1h.input_tokens`` and Dash0's
  ``dash0.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens``. Like Anthropic's own total, the
  cache creation count includes them, so the 5-minute writes are ``cache_creation - 1h`` (when the
  1-hour count exceeds it, the cache creation count is taken as the 5-minute writes alone).

  **Buckets.** Our buckets are disjoint; which reported counts include which is decided per
  emitting library and provider (`services.ingest.otlp_libraries.profile`) and checked against a
  total (`services.ingest.otlp_usage.split`): the conventions' reading (input includes the cache,
  output the reasoning) for libraries that follow them, the library's own where it differs (OpenLIT's
  Anthropic input excludes the cache; Gemini outputs exclude thoughts), the total's when it
  contradicts them; thinking tokens a library leaves out are recovered from the total. Counts a
  library cannot report are named in the event's ``estimated_counts``.
- request id: ``gen_ai.response.id``.
- timestamp: span start (``now`` when missing; refused when further in the future than our JSON
  batches allow); latency: end - start (none when the end is missing or before the start).
- status: error when the span status code is ERROR or ``error.type`` is set.
- user: ``user.id``, else ``enduser.id`` (deprecated).
- project: ``mno.project``, else the resource's ``service.name`` (the SDK's ``unknown_service``
  default is no project).
- tags: every ``mno.tag.<key>`` attribute, as ``<key>`` → its value as a string.
- prompt: ``mno.prompt.name``, else ``gen_ai.prompt.name``; ``mno.prompt.version``.
- id: ``call:<provider>:<hash of gen_ai.response.id>`` when the span has a response id, so every
  span reporting one provider call (two libraries stacked) is one event (`services.ingest.otlp_dedup`;
  the richest report of a request is kept); else ``<32-hex trace id>:<16-hex span id>``, so a span
  exported twice is counted once.

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
from enum import StrEnum
from typing import Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from pydantic import ValidationError

from services.ingest.otlp_dedup import call_event_id, richest_per_call
from services.ingest.otlp_libraries import Library, Profile, identify, profile
from services.ingest.otlp_litellm import USAGE_OBJECT, refine
from services.ingest.otlp_usage import Reported, split
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
    "vertexai": "gemini",
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
    "mistralai": "mistral",
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
# OpenInference span kinds that are one model call (CHAIN, AGENT, TOOL, RETRIEVER, ... wrap calls).
OPENINFERENCE_CALL_KINDS: Final = frozenset({"LLM", "EMBEDDING"})

INPUT_TOKENS: Final = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS: Final = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
CACHE_READ_TOKENS: Final = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_TOKENS: Final = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write_input_tokens",
    "gen_ai.usage.input_tokens.cache_write",
    "llm.token_count.prompt_details.cache_write",
)
CACHE_WRITE_1H_TOKENS: Final = (
    "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens",
    "anthropic.usage.cache_creation.ephemeral_1h_input_tokens",  # the anthropic SDK's own spans
    "gen_ai.usage.cache_creation.ephemeral_1h.input_tokens",
    "dash0.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens",
)
REASONING_TOKENS: Final = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)
# Span flags of a streamed call (Traceloop, OpenLIT / the anthropic SDK, OpenInference).
STREAM_FLAGS: Final = ("gen_ai.is_streaming", "gen_ai.request.stream", "llm.is_streaming")
# `estimated_counts` in the order of the token fields.
ESTIMABLE: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)
# Totals of everything (input, output, cache, reasoning): checks which counts include which.
TOTAL_TOKENS: Final = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
PROVIDER: Final = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
MODEL: Final = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "embedding.model_name")
_USAGE_KEYS: Final = frozenset().union(
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    CACHE_WRITE_1H_TOKENS,
    REASONING_TOKENS,
)
# Providers whose cache writes are billed (elsewhere a missing write count changes no cost).
_CACHE_WRITE_PROVIDERS: Final = frozenset({"anthropic", "bedrock"})

# What marks a span as (meant to be) a model call. Not every `llm.*` name: LiteLLM's
# raw_gen_ai_request child spans carry `llm.<provider>.<request field>` and no usage (their parent
# span has it).
_CALL_PREFIXES: Final = ("gen_ai.", "llm.token_count.")
_CALL_MARKERS: Final = frozenset(
    {*PROVIDER, *MODEL, *TOTAL_TOKENS, "openinference.span.kind", "llm.request.type"}
)

TAG_PREFIX: Final = "mno.tag."
_INTEGER = re.compile(r"^[+-]?\d+$")


class DropReason(StrEnum):
    """Why a span did not become a token event (the `reason` label of the drop metric)."""

    NOT_GENAI = "not_genai"
    NOT_A_CALL = "not_a_call"
    NO_USAGE = "no_usage"
    INVALID = "invalid"
    DUPLICATE_CALL = "duplicate_call"
    REFUSED = "refused"


REASON_TEXT: Final[Mapping[DropReason, str]] = {
    DropReason.NOT_GENAI: "no gen_ai.* or OpenInference llm.* attributes (not a model call)",
    DropReason.NOT_A_CALL: "agent, workflow, tool or retrieval span: its calls count in their own spans",
    DropReason.NO_USAGE: "a model call without token counts (e.g. an OpenAI stream without "
    "stream_options.include_usage): nothing to price",
    DropReason.INVALID: "token counts or names that cannot be read",
    DropReason.DUPLICATE_CALL: "the same provider call (response id) reported by a richer span",
    DropReason.REFUSED: "refused at ingest (validation or budget)",
}


@dataclass(frozen=True)
class SpanRef:
    """Which span of the request an outcome is about (ids as lower-case hex), and who emitted it."""

    trace_id: str
    span_id: str
    name: str
    library: Library = Library.OTHER


@dataclass(frozen=True)
class DroppedSpan:
    """A span that became no token event, and why (`detail` says more for invalid ones)."""

    ref: SpanRef
    reason: DropReason
    detail: str = ""


@dataclass
class OtlpMapping:
    """What became of a request's spans: token events, and every other span with why it was dropped."""

    events: list[tuple[SpanRef, TokenEventIn]] = field(default_factory=list)
    dropped: list[DroppedSpan] = field(default_factory=list)

    @property
    def rejected(self) -> list[tuple[SpanRef, str]]:
        """GenAI calls whose attributes cannot be read, with why."""
        return [(drop.ref, drop.detail) for drop in self.dropped if drop.reason is DropReason.INVALID]

    @property
    def ignored(self) -> int:
        """Spans that are no model call with usage (not GenAI, aggregates, calls without counts)."""
        skipped = (DropReason.NOT_GENAI, DropReason.NOT_A_CALL, DropReason.NO_USAGE)
        return sum(1 for drop in self.dropped if drop.reason in skipped)


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


def normalise_provider(value: str) -> str:
    """Our provider id for a `gen_ai.provider.name` / `gen_ai.system` / `llm.provider` value."""
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


def _drop_reason(span_attributes: Attributes) -> DropReason | None:
    """Why a span is no model call with usage, or None when it is one."""
    # Only the span's own attributes mark it: a provider on the resource applies to every span.
    if not any(key.startswith(_CALL_PREFIXES) or key in _CALL_MARKERS for key in span_attributes):
        return DropReason.NOT_GENAI
    if _text(span_attributes, "gen_ai.operation.name") in AGGREGATE_OPERATIONS:
        return DropReason.NOT_A_CALL
    kind = _text(span_attributes, "openinference.span.kind")
    if kind is not None and kind.upper() not in OPENINFERENCE_CALL_KINDS:
        return DropReason.NOT_A_CALL
    if not any(key in span_attributes for key in _USAGE_KEYS):
        return DropReason.NO_USAGE
    return None


def _reported(span_attributes: Attributes, reads_total: bool) -> Reported:
    return Reported(
        input=_count(span_attributes, INPUT_TOKENS),
        output=_count(span_attributes, OUTPUT_TOKENS),
        cache_read=_count(span_attributes, CACHE_READ_TOKENS),
        cache_write=_count(span_attributes, CACHE_WRITE_TOKENS),
        cache_write_1h=_count(span_attributes, CACHE_WRITE_1H_TOKENS),
        reasoning=_count(span_attributes, REASONING_TOKENS),
        total=_count(span_attributes, TOTAL_TOKENS) if reads_total else None,
    )


def _streamed(span_attributes: Attributes) -> bool:
    return any(_scalar(span_attributes.get(key)) is True for key in STREAM_FLAGS)


def _estimated(
    library_profile: Profile,
    reported: Reported,
    provider: str,
    recovered: bool,
    span_attributes: Attributes,
    *,
    tokenized: bool = False,
) -> list[str]:
    """The counts this span's library could not send right (none when the span sent them);
    `tokenized`: the library counted input and output itself (no usage from the provider)."""
    unreported = library_profile.unreported
    flagged: set[str] = {"input_tokens", "output_tokens"} if tokenized else set()
    if "cache_read_tokens" in unreported and reported.cache_read is None:
        flagged.add("cache_read_tokens")
    if (
        "cache_write_tokens" in unreported
        and reported.cache_write is None
        and provider in _CACHE_WRITE_PROVIDERS
    ):
        flagged.add("cache_write_tokens")
    # 1-hour writes inside a cache creation count that does not split them: priced at the 5-minute rate.
    writes = reported.cache_write or 0
    if "cache_write_1h_tokens" in unreported and reported.cache_write_1h is None and writes:
        flagged.add("cache_write_1h_tokens")
    if "reasoning_tokens" in unreported and reported.reasoning is None and not recovered:
        flagged.add("reasoning_tokens")
    if library_profile.streamed and _streamed(span_attributes):
        flagged |= library_profile.streamed
    if library_profile.tokenized_without_cache_read and reported.cache_read is None:
        flagged |= library_profile.tokenized_without_cache_read
    return [name for name in ESTIMABLE if name in flagged]


def _event(
    span: Span,
    span_attributes: Attributes,
    merged: Attributes,
    resource: Attributes,
    ref: SpanRef,
    now: datetime,
) -> TokenEventIn:
    provider_name = _text(merged, *PROVIDER)
    if provider_name is None:
        raise _Rejected("no gen_ai.provider.name, gen_ai.system or llm.provider")
    provider = normalise_provider(provider_name)
    model = _text(merged, *MODEL)
    if model is None:
        raise _Rejected("no gen_ai.response.model, gen_ai.request.model or llm.model_name")
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise _Rejected("trace id must be 16 bytes and span id 8 bytes")

    library_profile = profile(ref.library, provider)
    reported = _reported(span_attributes, library_profile.reads_total)
    tokenized = False
    if ref.library is Library.LITELLM:
        # LiteLLM sends its stream flag as the string "True".
        streamed = (_text(span_attributes, "llm.is_streaming") or "").lower() == "true"
        litellm = refine(reported, _text(span_attributes, USAGE_OBJECT), streamed=streamed)
        reported, tokenized = litellm.reported, litellm.tokenized
    buckets, recovered = split(reported, library_profile.reading)

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
    response_id = _text(span_attributes, "gen_ai.response.id")
    try:
        return TokenEventIn(
            id=call_event_id(provider, response_id) or ref.trace_id + ":" + ref.span_id,
            timestamp=timestamp,
            provider=provider,
            model=model,
            input_tokens=buckets.input_tokens,
            output_tokens=buckets.output_tokens,
            cache_read_tokens=buckets.cache_read_tokens,
            cache_write_tokens=buckets.cache_write_tokens,
            cache_write_1h_tokens=buckets.cache_write_1h_tokens,
            reasoning_tokens=buckets.reasoning_tokens,
            latency_ms=latency_ms,
            status=CallStatus.ERROR if failed else CallStatus.OK,
            user=_text(merged, "user.id", "enduser.id"),
            project=_project(merged, resource),
            tags=_tags(merged),
            prompt_name=_text(merged, "mno.prompt.name", "gen_ai.prompt.name"),
            prompt_version=_text(merged, "mno.prompt.version"),
            request_id=response_id,
            estimated_counts=_estimated(
                library_profile, reported, provider, recovered, span_attributes, tokenized=tokenized
            ),
        )
    except ValidationError as exc:
        raise _Rejected(_validation_reason(exc)) from exc


def spans_to_events(request: ExportTraceServiceRequest, *, now: datetime) -> OtlpMapping:
    """Map every span of `request`: model calls to token events (one per provider call), every
    other span to the reason it was dropped.

    `now` (aware) dates spans without a start time and bounds how far in the future a span may start.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    mapping = OtlpMapping()
    events: list[tuple[SpanRef, TokenEventIn]] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        sdk = _text(resource, "telemetry.sdk.name")
        for scope_spans in resource_spans.scope_spans:
            scoped = {**resource, **_attributes(scope_spans.scope.attributes)}
            for span in scope_spans.spans:
                span_attributes = _attributes(span.attributes)
                merged = {**scoped, **span_attributes}
                ref = SpanRef(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    name=span.name,
                    library=identify(scope_spans.scope.name, sdk, span_attributes),
                )
                reason = _drop_reason(span_attributes)
                if reason is not None:
                    mapping.dropped.append(DroppedSpan(ref, reason))
                    continue
                try:
                    events.append((ref, _event(span, span_attributes, merged, resource, ref, now)))
                except _Rejected as exc:
                    mapping.dropped.append(DroppedSpan(ref, DropReason.INVALID, str(exc)))
    mapping.events, duplicates = richest_per_call(events)
    mapping.dropped += [DroppedSpan(ref, DropReason.DUPLICATE_CALL) for ref in duplicates]
    return mapping


def summarise(dropped: Iterable[DroppedSpan], *, examples: int = 3) -> str:
    """One line for OTLP's `partial_success.error_message`: counts by reason, with why and examples."""
    by_reason: dict[DropReason, list[DroppedSpan]] = {}
    for drop in dropped:
        by_reason.setdefault(drop.reason, []).append(drop)
    parts = []
    for reason, drops in by_reason.items():
        shown = [f"span {d.ref.span_id}: {d.detail}" for d in drops if d.detail][:examples]
        detail = f" [{'; '.join(shown)}]" if shown else ""
        parts.append(f"{len(drops)} {reason.value} ({REASON_TEXT[reason]}){detail}")
    if not parts:
        return ""
    return "spans not turned into token events: " + "; ".join(parts)
