"""Spans as each instrumentation library emits them become exact token buckets (or say what is estimated).

Each fixture follows the library's own source (scope name, attribute names, which count includes
which): OpenTelemetry contrib openai-v2 / google-genai, OpenLLMetry (Traceloop), OpenLIT,
OpenInference, LiteLLM's OTel callback, and a span in the current conventions' names (the anthropic
SDK's own tracing). One test per library x provider row of docs/INSTRUMENTATIONS.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from services.ingest.otlp_dedup import call_event_id
from services.ingest.otlp_genai import DropReason, OtlpMapping, spans_to_events, summarise
from services.ingest.otlp_libraries import Library
from services.pricing.genai import GenaiPricesSource
from services.pricing.models import Usage
from shared.messages.telemetry import TokenEventIn
from tests.ingest.test_otlp_genai import Value, _kvs

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
START_NS = int((NOW - timedelta(minutes=1)).timestamp() * 1_000_000_000)
PRICES = GenaiPricesSource()
_ids = count(1)


def _span(attributes: dict[str, Value], *, name: str = "chat", trace: int | None = None) -> Span:
    number = next(_ids)
    return Span(
        trace_id=(trace or number).to_bytes(16, "big"),
        span_id=(1000 + number).to_bytes(8, "big"),
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + 900_000_000,
        attributes=_kvs(attributes),
    )


def _scope(name: str, *spans: Span, sdk: str | None = None) -> ResourceSpans:
    resource: dict[str, Value] = {"service.name": "bot"}
    if sdk is not None:
        resource["telemetry.sdk.name"] = sdk
    return ResourceSpans(
        resource=Resource(attributes=_kvs(resource)),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name=name, version="1.0"), spans=spans)],
    )


def _map(*resource_spans: ResourceSpans) -> OtlpMapping:
    return spans_to_events(ExportTraceServiceRequest(resource_spans=resource_spans), now=NOW)


def _one(scope: str, attributes: dict[str, Value], *, sdk: str | None = None) -> TokenEventIn:
    mapping = _map(_scope(scope, _span(attributes), sdk=sdk))
    assert mapping.dropped == []
    assert len(mapping.events) == 1
    return mapping.events[0][1]


def _buckets(event: TokenEventIn) -> dict[str, int]:
    return {
        "input": event.input_tokens,
        "output": event.output_tokens,
        "cache_read": event.cache_read_tokens,
        "cache_write": event.cache_write_tokens,
        "reasoning": event.reasoning_tokens,
    }


def _usd(event: TokenEventIn) -> Decimal:
    usage = Usage(
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cache_read_tokens=event.cache_read_tokens,
        cache_write_tokens=event.cache_write_tokens,
        reasoning_tokens=event.reasoning_tokens,
        cache_write_1h_tokens=event.cache_write_1h_tokens,
    )
    return PRICES.price(event.provider, event.model, usage, NOW).total.normalize()


def _tokens(**counts: int) -> dict[str, int]:
    return {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "reasoning": 0, **counts}


# --- OpenTelemetry contrib (opentelemetry-instrumentation-openai-v2 / -google-genai) ---------------


def test_otel_contrib_openai_v2_openai_counts_cached_input_as_input_and_says_so() -> None:
    """openai-v2 sends prompt_tokens (cached inside, no count of them): stored as input, flagged."""
    event = _one(
        "opentelemetry.instrumentation.openai_v2",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.response.id": "chatcmpl-v2",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 300,
        },
    )
    assert _buckets(event) == _tokens(input=1000, output=300)
    assert event.estimated_counts == ["cache_read_tokens"]


def test_otel_contrib_google_genai_gemini_flags_thoughts_it_cannot_see() -> None:
    """google-genai sends prompt and candidates counts only: thoughts and cached content are flagged."""
    event = _one(
        "opentelemetry.instrumentation.google_genai",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.system": "gemini",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.output_tokens": 700,
        },
    )
    assert _buckets(event) == _tokens(input=2000, output=700)
    assert event.estimated_counts == ["cache_read_tokens", "reasoning_tokens"]


# --- OpenLLMetry / Traceloop ----------------------------------------------------------------------


def test_traceloop_anthropic_inclusive_input_is_split() -> None:
    """Traceloop sums input + cache read + cache creation into input_tokens: the cache is split out."""
    event = _one(
        "opentelemetry.instrumentation.anthropic",
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "completion",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.id": "msg_tl",
            "gen_ai.usage.input_tokens": 552 + 2600,
            "gen_ai.usage.output_tokens": 100,
            "llm.usage.total_tokens": 552 + 2600 + 100,
            "gen_ai.usage.cache_read_input_tokens": 2600,
            "gen_ai.usage.cache_creation_input_tokens": 0,
        },
    )
    assert _buckets(event) == _tokens(input=552, output=100, cache_read=2600)
    assert event.estimated_counts == []
    # claude-sonnet-4-5: 552 x $3 + 2,600 x $0.30 + 100 x $15 per MTok
    assert _usd(event) == Decimal("0.003936")


def test_traceloop_openai_cached_and_reasoning_are_split_out() -> None:
    """Traceloop's OpenAI counts are inclusive, with the cached and reasoning parts sent apart."""
    event = _one(
        "opentelemetry.instrumentation.openai.v1",
        {
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "gen_ai.request.model": "o3-mini",
            "gen_ai.usage.prompt_tokens": 1000,
            "gen_ai.usage.cache_read_input_tokens": 400,
            "gen_ai.usage.completion_tokens": 300,
            "gen_ai.usage.reasoning_tokens": 100,
            "llm.usage.total_tokens": 1300,
        },
    )
    assert _buckets(event) == _tokens(input=600, cache_read=400, output=200, reasoning=100)


def test_traceloop_gemini_thoughts_are_recovered_from_the_total() -> None:
    """Traceloop's Gemini sends no thinking count, but total_token_count holds it: recovered exactly."""
    event = _one(
        "opentelemetry.instrumentation.google_generativeai",
        {
            "gen_ai.system": "Google",
            "llm.request.type": "completion",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.prompt_tokens": 1000,
            "gen_ai.usage.completion_tokens": 700,
            "llm.usage.total_tokens": 2300,
        },
    )
    assert _buckets(event) == _tokens(input=1000, output=700, reasoning=600)
    assert event.estimated_counts == []
    # gemini-2.5-flash: 1,000 x $0.30 + (700 + 600) x $2.50 per MTok (it was 0.00205 without thoughts)
    assert _usd(event) == Decimal("0.00355")


# --- OpenLIT --------------------------------------------------------------------------------------


def test_openlit_anthropic_input_excludes_the_cache() -> None:
    """OpenLIT copies Anthropic's input_tokens (cache excluded): nothing is subtracted from it."""
    event = _one(
        "openlit.otel.tracing",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.id": "msg_ol",
            "gen_ai.usage.input_tokens": 3152,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.client.token.usage": 3252,  # input + output: not a total of everything
            "gen_ai.usage.cache_read_input_tokens": 2600,
            "gen_ai.usage.cache_creation_input_tokens": 0,
            "gen_ai.usage.cost": 0.0123,
        },
        sdk="openlit",
    )
    assert _buckets(event) == _tokens(input=3152, output=100, cache_read=2600)
    # 3,152 x $3 + 2,600 x $0.30 + 100 x $15 per MTok
    assert _usd(event) == Decimal("0.011736")


def test_openlit_gemini_output_excludes_the_thoughts_sent_apart() -> None:
    """OpenLIT sends candidates_token_count as output and thoughts apart: the output is not reduced."""
    event = _one(
        "openlit.otel.tracing",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "gemini",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.response.id": "None",  # OpenLIT writes str(None) when Gemini gives no id
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 900,
            "gen_ai.usage.reasoning_tokens": 200,
            "gen_ai.usage.cache_read_input_tokens": 0,
        },
        sdk="openlit",
    )
    assert _buckets(event) == _tokens(input=1000, output=900, reasoning=200)
    assert not (event.id or "").startswith("call:")  # "None" is no response id
    assert _usd(event) == Decimal("0.00305")


def test_openlit_openai_counts_are_inclusive() -> None:
    """OpenLIT's OpenAI counts are OpenAI's own (inclusive): cached and reasoning parts are split out."""
    event = _one(
        "openlit.otel.tracing",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read_input_tokens": 400,
            "gen_ai.usage.reasoning_tokens": 0,
        },
        sdk="openlit",
    )
    assert _buckets(event) == _tokens(input=600, output=300, cache_read=400)


# --- OpenInference (Arize) ------------------------------------------------------------------------


def test_openinference_anthropic_is_read_from_llm_token_counts() -> None:
    """OpenInference's llm.* names (prompt includes the cache) and llm.provider / llm.model_name map."""
    event = _one(
        "openinference.instrumentation.anthropic",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.system": "anthropic",
            "llm.model_name": "claude-sonnet-4-5",
            "llm.token_count.prompt": 552 + 2600 + 1000,
            "llm.token_count.completion": 100,
            "llm.token_count.prompt_details.cache_read": 2600,
            "llm.token_count.prompt_details.cache_write": 1000,
            "llm.token_count.total": 552 + 2600 + 1000 + 100,
        },
    )
    assert (event.provider, event.model) == ("anthropic", "claude-sonnet-4-5")
    assert _buckets(event) == _tokens(input=552, output=100, cache_read=2600, cache_write=1000)


def test_openinference_openai_reasoning_detail_is_split_out() -> None:
    """OpenInference's OpenAI completion includes reasoning (completion_details.reasoning)."""
    event = _one(
        "openinference.instrumentation.openai",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "openai",
            "llm.model_name": "o3-mini",
            "llm.token_count.prompt": 1000,
            "llm.token_count.prompt_details.cache_read": 400,
            "llm.token_count.completion": 300,
            "llm.token_count.completion_details.reasoning": 100,
            "llm.token_count.total": 1300,
        },
    )
    assert _buckets(event) == _tokens(input=600, cache_read=400, output=200, reasoning=100)


def test_openinference_gemini_thoughts_come_from_the_total() -> None:
    """OpenInference's google-genai completion excludes thoughts; its total reveals them."""
    event = _one(
        "openinference.instrumentation.google_genai",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "google",
            "llm.model_name": "gemini-2.5-flash",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 700,
            "llm.token_count.total": 2300,
        },
    )
    assert event.provider == "gemini"
    assert _buckets(event) == _tokens(input=1000, output=700, reasoning=600)


def test_openinference_chain_and_tool_spans_are_not_calls() -> None:
    """CHAIN, AGENT and TOOL spans wrap calls: dropped as not_a_call, never counted twice."""
    chain = _span(
        {"openinference.span.kind": "CHAIN", "llm.token_count.prompt": 5000, "llm.provider": "openai"}
    )
    mapping = _map(_scope("openinference.instrumentation.langchain", chain))
    assert mapping.events == []
    assert [(d.reason, d.ref.library) for d in mapping.dropped] == [
        (DropReason.NOT_A_CALL, Library.OPENINFERENCE)
    ]


# --- LiteLLM's OpenTelemetry callback -------------------------------------------------------------


def test_litellm_anthropic_cache_is_inside_prompt_tokens_and_flagged() -> None:
    """LiteLLM sends OpenAI-shaped prompt_tokens (cache included) and no cache split: flagged estimated."""
    event = _one(
        "litellm",
        {
            "gen_ai.system": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.response.id": "chatcmpl-lite",
            "gen_ai.usage.input_tokens": 3152,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.total_tokens": 3252,
            "gen_ai.cost.input_cost": 0.001332,
            "gen_ai.cost.output_cost": 0.0015,
            "gen_ai.cost.total_cost": 0.002832,
        },
    )
    assert _buckets(event) == _tokens(input=3152, output=100)
    assert event.estimated_counts == ["cache_read_tokens", "cache_write_tokens"]


def test_litellm_raw_request_child_spans_are_not_calls_without_usage() -> None:
    """LiteLLM's raw_gen_ai_request spans (llm.<provider>.* request fields) are not reported as calls."""
    raw = _span(
        {"llm.anthropic.model": "claude-sonnet-4-5", "llm.anthropic.max_tokens": 100},
        name="raw_gen_ai_request",
    )
    mapping = _map(_scope("litellm", raw))
    assert [(d.reason, d.ref.library) for d in mapping.dropped] == [(DropReason.NOT_GENAI, Library.LITELLM)]


def test_litellm_openai_flags_only_cache_reads() -> None:
    """For OpenAI (no billed cache writes) only the missing cached count is flagged."""
    event = _one(
        "litellm",
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.total_tokens": 1300,
        },
    )
    assert _buckets(event) == _tokens(input=1000, output=300)
    assert event.estimated_counts == ["cache_read_tokens"]


# LiteLLM 1.110's metadata.usage_object, as its spans carry it (str() of a dict).
_LITELLM_ANTHROPIC_USAGE = (
    "{'completion_tokens': 300, 'prompt_tokens': 3050, 'total_tokens': 3350, 'completion_tokens_details': "
    "{'reasoning_tokens': 0, 'text_tokens': 300}, 'prompt_tokens_details': {'audio_tokens': None, "
    "'cache_write_tokens': 1000, 'cached_tokens': 2000, 'text_tokens': 50, 'cache_creation_tokens': 1000, "
    "'cache_creation_token_details': {'ephemeral_5m_input_tokens': 400, 'ephemeral_1h_input_tokens': 600}}, "
    "'cache_creation_input_tokens': 1000, 'cache_read_input_tokens': 2000, 'service_tier': None}"
)


def _litellm(provider: str, model: str, prompt: int, completion: int, **more: Value) -> dict[str, Value]:
    return {
        "gen_ai.system": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.id": f"lite-{next(_ids)}",
        "gen_ai.usage.input_tokens": prompt,
        "gen_ai.usage.output_tokens": completion,
        "gen_ai.usage.total_tokens": prompt + completion,
        "gen_ai.cost.total_cost": 0.01,
        **more,
    }


def test_litellm_usage_object_makes_anthropic_cache_and_one_hour_writes_exact() -> None:
    """LiteLLM's metadata.usage_object (a Python repr) gives the cache split and the 1-hour writes:
    exact buckets, nothing flagged."""
    event = _one(
        "litellm",
        _litellm(
            "anthropic", "claude-sonnet-4-5", 3050, 300, **{"metadata.usage_object": _LITELLM_ANTHROPIC_USAGE}
        ),
    )
    assert _buckets(event) == _tokens(input=50, output=300, cache_read=2000, cache_write=400)
    assert event.cache_write_1h_tokens == 600
    assert event.estimated_counts == []


def test_litellm_usage_object_as_json_splits_openai_cache_and_reasoning() -> None:
    """A JSON usage object (other LiteLLM versions) is read the same: OpenAI cached and reasoning
    counts come out of prompt and completion tokens."""
    usage = (
        '{"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306, '
        '"prompt_tokens_details": {"cached_tokens": 1920}, '
        '"completion_tokens_details": {"reasoning_tokens": 192}}'
    )
    event = _one("litellm", _litellm("openai", "gpt-4o-mini", 2006, 300, **{"metadata.usage_object": usage}))
    assert _buckets(event) == _tokens(input=86, cache_read=1920, output=108, reasoning=192)
    assert event.estimated_counts == []


def test_litellm_stream_without_usage_is_flagged_as_its_tokenizers_count() -> None:
    """A LiteLLM stream whose usage object has no prompt_tokens_details was counted by LiteLLM's
    tokenizer: input and output (and the unknown cache) are flagged estimated."""
    usage = (
        "{'completion_tokens': 1, 'prompt_tokens': 8, 'total_tokens': 9, 'completion_tokens_details': "
        "{'accepted_prediction_tokens': None, 'reasoning_tokens': 0, 'text_tokens': 1}, "
        "'prompt_tokens_details': None, 'cost': 1.8e-06}"
    )
    streamed = _litellm(
        "openai", "gpt-4o-mini", 8, 1, **{"metadata.usage_object": usage, "llm.is_streaming": "True"}
    )
    event = _one("litellm", streamed)
    assert _buckets(event) == _tokens(input=8, output=1)
    assert event.estimated_counts == ["input_tokens", "output_tokens", "cache_read_tokens"]
    # The same usage of a call that did not stream is the provider's (OpenAI-compatibles may omit details).
    event = _one("litellm", {**streamed, "llm.is_streaming": "False", "gen_ai.response.id": "lite-plain"})
    assert event.estimated_counts == ["cache_read_tokens"]


def test_litellm_unreadable_or_foreign_usage_object_never_fails_the_span() -> None:
    """A usage object that is no literal, no mapping, too deep, too long, holds non-counts or another
    call's counts is ignored: the span is read from gen_ai.usage.* alone, flagged as without it."""
    for bad in (
        "not a dict {",
        "[1, 2, 3]",
        "__import__('os').system('true')",
        "[" * 5000 + "]" * 5000,
        "{'prompt_tokens': 1000, 'x': '" + "y" * 20_000 + "'}",
        "{'prompt_tokens': 999, 'completion_tokens': 300, 'prompt_tokens_details': {'cached_tokens': 900}}",
        "{'prompt_tokens_details': {'cached_tokens': -5}, "
        "'completion_tokens_details': {'reasoning_tokens': True}}",
        "{'prompt_tokens_details': {'cached_tokens': '900'}, 'completion_tokens_details': [1]}",
        "",
    ):
        event = _one("litellm", _litellm("openai", "gpt-4o", 1000, 300, **{"metadata.usage_object": bad}))
        assert _buckets(event) == _tokens(input=1000, output=300), bad[:60]
        assert event.estimated_counts == ["cache_read_tokens"], bad[:60]


# --- Current conventions (the anthropic SDK's own spans) ------------------------------------------


def test_cache_write_input_tokens_is_read_as_cache_writes() -> None:
    """`gen_ai.usage.cache_write.input_tokens` (current registry name) is cache writes, not input."""
    event = _one(
        "anthropic",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 5000,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_write.input_tokens": 1500,
            "gen_ai.usage.output_tokens": 250,
        },
    )
    assert _buckets(event) == _tokens(input=500, output=250, cache_read=3000, cache_write=1500)


def test_a_total_overrules_the_conventions_reading() -> None:
    """An unknown library whose total shows disjoint counts is read as disjoint, not subtracted."""
    event = _one(
        "my.company.llm",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 3152,
            "gen_ai.usage.cache_read.input_tokens": 2600,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.total_tokens": 3152 + 2600 + 100,
        },
    )
    assert _buckets(event) == _tokens(input=3152, output=100, cache_read=2600)


# --- One call reported by several spans -----------------------------------------------------------


def test_one_call_reported_by_two_libraries_is_one_event_with_the_richest_usage() -> None:
    """The anthropic SDK's span and Traceloop's (other traces, same response id) make one event."""
    sdk_span = _span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.id": "msg_dup",
            "gen_ai.usage.input_tokens": 4000,
            "gen_ai.usage.cache_read.input_tokens": 2000,
            "gen_ai.usage.cache_write.input_tokens": 1500,
            "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens": 500,
            "gen_ai.usage.output_tokens": 90,
        },
        trace=77,
    )
    traceloop_span = _span(
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "completion",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.id": "msg_dup",
            "gen_ai.usage.input_tokens": 4000,
            "gen_ai.usage.output_tokens": 90,
            "llm.usage.total_tokens": 4090,
            "gen_ai.usage.cache_read_input_tokens": 2000,
            "gen_ai.usage.cache_creation_input_tokens": 1500,
        },
        trace=78,
    )
    mapping = _map(
        _scope("opentelemetry.instrumentation.anthropic", traceloop_span),
        _scope("anthropic", sdk_span),
    )
    assert len(mapping.events) == 1
    ref, event = mapping.events[0]
    assert ref.span_id == sdk_span.span_id.hex()  # it alone splits out the 1-hour writes
    assert event.id == call_event_id("anthropic", "msg_dup")
    assert (event.input_tokens, event.cache_write_tokens, event.cache_write_1h_tokens) == (500, 1000, 500)
    assert [(d.ref.span_id, d.reason) for d in mapping.dropped] == [
        (traceloop_span.span_id.hex(), DropReason.DUPLICATE_CALL)
    ]


def test_same_response_id_of_two_providers_is_two_calls() -> None:
    """The key is (provider, response id): equal ids of different providers stay apart."""
    first = _span({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.response.id": "r1",
                   "gen_ai.usage.input_tokens": 1})  # fmt: skip
    second = _span({"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.response.id": "r1", "gen_ai.usage.input_tokens": 1})  # fmt: skip
    assert len(_map(_scope("x", first, second)).events) == 2


# --- Every span not turned into an event is reported ---------------------------------------------


def test_every_dropped_span_has_a_reason_and_the_summary_names_them() -> None:
    """HTTP spans, streams without usage and invalid counts are dropped with their reason, summarised."""
    http = _span({"http.request.method": "POST"}, name="POST")
    stream = _span(
        {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}
    )
    negative = _span(
        {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": -1}
    )
    mapping = _map(_scope("opentelemetry.instrumentation.openai_v2", http, stream, negative))
    assert mapping.events == []
    assert [(d.reason, d.ref.library) for d in mapping.dropped] == [
        (DropReason.NOT_GENAI, Library.OTEL_OPENAI),
        (DropReason.NO_USAGE, Library.OTEL_OPENAI),
        (DropReason.INVALID, Library.OTEL_OPENAI),
    ]
    message = summarise(mapping.dropped)
    assert "1 not_genai" in message
    assert "1 no_usage" in message
    assert "include_usage" in message
    assert f"span {negative.span_id.hex()}: gen_ai.usage.input_tokens is negative" in message


# --- Found by the compatibility suite (tests/compat): spans exactly as the pinned libraries sent them


def test_otel_contrib_openai_v2_spans_from_util_genai_are_still_flagged() -> None:
    """openai-v2 2.x emits through opentelemetry-util-genai (scope opentelemetry.util.genai.handler):
    still no cached count, so cache reads are flagged, not silently priced as input."""
    event = _one(
        "opentelemetry.util.genai.handler",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.id": "chatcmpl-util",
            "gen_ai.usage.input_tokens": 2006,
            "gen_ai.usage.output_tokens": 300,
        },
    )
    assert _buckets(event) == _tokens(input=2006, output=300)
    assert event.estimated_counts == ["cache_read_tokens"]


def test_otel_contrib_google_genai_output_includes_the_thoughts_it_sends() -> None:
    """google-genai 1.3b0 sends output = candidates + thoughts, the thoughts and cache read apart: exact."""
    event = _one(
        "opentelemetry.instrumentation.google_genai",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.provider.name": "gemini",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 350,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.reasoning.output_tokens": 150,
        },
    )
    assert _buckets(event) == _tokens(input=400, cache_read=600, output=200, reasoning=150)
    assert event.estimated_counts == []


def test_openinference_gemini_completion_includes_the_thoughts_it_sends() -> None:
    """OpenInference google-genai 1.4.x: the completion includes completion_details.reasoning."""
    event = _one(
        "openinference.instrumentation.google_genai",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "google",
            "llm.model_name": "gemini-2.5-flash",
            "llm.token_count.prompt": 1000,
            "llm.token_count.prompt_details.cache_read": 600,
            "llm.token_count.completion": 350,
            "llm.token_count.completion_details.reasoning": 150,
        },
    )
    assert _buckets(event) == _tokens(input=400, cache_read=600, output=200, reasoning=150)


def test_anthropic_sdk_own_spans_price_one_hour_writes_at_their_rate() -> None:
    """The anthropic SDK (2.x) sends its 1-hour writes apart
    (anthropic.usage.cache_creation.ephemeral_1h_input_tokens): priced at the 1-hour rate."""
    event = _one(
        "com.anthropic.sdk.python",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.id": "msg_sdk",
            "gen_ai.usage.input_tokens": 3050,
            "gen_ai.usage.cache_write.input_tokens": 1000,
            "gen_ai.usage.cache_read.input_tokens": 2000,
            "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 400,
            "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 600,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.reasoning.output_tokens": 120,
        },
    )
    assert (event.input_tokens, event.cache_read_tokens) == (50, 2000)
    assert (event.cache_write_tokens, event.cache_write_1h_tokens) == (400, 600)
    assert (event.output_tokens, event.reasoning_tokens) == (180, 120)
    assert event.estimated_counts == []
    # claude-sonnet-4-5: 50 x $3 + 2,000 x $0.30 + 400 x $3.75 + 600 x $6 + 300 x $15 per MTok
    assert _usd(event) == Decimal("0.01035")


def test_anthropic_cache_writes_without_a_one_hour_split_are_flagged() -> None:
    """Traceloop, OpenInference and OpenLIT send Anthropic's cache creation count whole: 1-hour writes
    in it are priced at the 5-minute rate, so the event says so (not when there are no writes)."""
    traceloop = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 3050,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.total_tokens": 3350,
        "gen_ai.usage.cache_read.input_tokens": 2000,
        "gen_ai.usage.cache_creation.input_tokens": 1000,
    }
    openinference = {
        "openinference.span.kind": "LLM",
        "llm.provider": "anthropic",
        "llm.model_name": "claude-sonnet-4-5",
        "llm.token_count.prompt": 3050,
        "llm.token_count.completion": 300,
        "llm.token_count.prompt_details.cache_read": 2000,
        "llm.token_count.prompt_details.cache_write": 1000,
    }
    for scope, attributes in (
        ("opentelemetry.instrumentation.anthropic", traceloop),
        ("openinference.instrumentation.anthropic", openinference),
    ):
        event = _one(scope, attributes)
        assert (event.input_tokens, event.cache_write_tokens, event.cache_write_1h_tokens) == (50, 1000, 0)
        assert event.estimated_counts == ["cache_write_1h_tokens"]
    no_writes = {
        **traceloop,
        "gen_ai.usage.cache_creation.input_tokens": 0,
        "gen_ai.usage.input_tokens": 2050,
    }
    no_writes["gen_ai.usage.total_tokens"] = 2350
    assert _one("opentelemetry.instrumentation.anthropic", no_writes).estimated_counts == []


def test_traceloop_anthropic_stream_output_is_flagged() -> None:
    """Traceloop adds message_start's output count to message_delta's cumulative one in streams: flagged."""
    event = _one(
        "opentelemetry.instrumentation.anthropic",
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.is_streaming": True,
            "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.output_tokens": 301,
            "gen_ai.usage.total_tokens": 351,
        },
    )
    assert (event.input_tokens, event.output_tokens) == (50, 301)
    assert event.estimated_counts == ["output_tokens"]


def test_openlit_anthropic_stream_cache_counts_are_flagged() -> None:
    """OpenLIT overwrites a stream's cache counts with message_delta's (0 when it omits them): flagged."""
    event = _one(
        "openlit.instrumentation.anthropic",
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.request.stream": True,
            "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.cache_creation.input_tokens": 0,
        },
        sdk="openlit",
    )
    assert _buckets(event) == _tokens(input=50, output=300)
    assert event.estimated_counts == ["cache_read_tokens", "cache_write_tokens"]


def test_openlit_openai_counts_of_its_own_tokenizer_are_flagged() -> None:
    """Without usage (a stream without include_usage) OpenLIT counts with its tokenizer and sends no
    cache count: input and output are flagged; with usage (cache count sent, even 0) nothing is."""
    tokenized = {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 4,
        "gen_ai.usage.output_tokens": 1,
        "gen_ai.client.token.usage": 5,
    }
    event = _one("openlit.instrumentation.openai", tokenized, sdk="openlit")
    assert event.estimated_counts == ["input_tokens", "output_tokens"]
    measured = {**tokenized, "gen_ai.usage.cache_read.input_tokens": 0}
    assert _one("openlit.instrumentation.openai", measured, sdk="openlit").estimated_counts == []
