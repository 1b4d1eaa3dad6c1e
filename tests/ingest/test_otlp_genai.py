"""GenAI spans (OpenTelemetry semantic conventions) become disjoint-bucket token events; others ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from services.ingest.otlp import decode_request, spans_to_events
from services.ingest.otlp_dedup import call_event_id
from services.ingest.otlp_genai import OtlpMapping, SpanRef
from shared.messages.telemetry import CallStatus, TokenEventIn

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
START_NS = int((NOW - timedelta(minutes=2)).timestamp() * 1_000_000_000)
Value = str | int | float | bool | list[str]
_ids = count(1)


def _any(value: Value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value]))
    return AnyValue(string_value=value)


def _kvs(attributes: dict[str, Value]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any(value)) for key, value in attributes.items()]


def _span(
    attributes: dict[str, Value],
    *,
    duration_ms: int = 1500,
    status: Status.StatusCode.ValueType = Status.STATUS_CODE_UNSET,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    start_ns: int = START_NS,
) -> Span:
    number = next(_ids)
    return Span(
        trace_id=trace_id if trace_id is not None else number.to_bytes(16, "big"),
        span_id=span_id if span_id is not None else number.to_bytes(8, "big"),
        name=f"span {number}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ms * 1_000_000 if start_ns else 0,
        attributes=_kvs(attributes),
        status=Status(code=status),
    )


def _request(
    *spans: Span, resource: dict[str, Value] | None = None, scope: dict[str, Value] | None = None
) -> ExportTraceServiceRequest:
    resource_attributes: dict[str, Value] = {"service.name": "checkout"} if resource is None else resource
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=_kvs(resource_attributes)),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name="test", attributes=_kvs(scope or {})), spans=spans
                    )
                ],
            )
        ]
    )


def _map(*spans: Span, **kwargs: dict[str, Value]) -> OtlpMapping:
    return spans_to_events(_request(*spans, **kwargs), now=NOW)


def _only_event(mapping: OtlpMapping) -> TokenEventIn:
    assert mapping.rejected == []
    assert len(mapping.events) == 1
    return mapping.events[0][1]


def _only_rejection(mapping: OtlpMapping) -> str:
    assert mapping.events == []
    assert len(mapping.rejected) == 1
    return mapping.rejected[0][1]


OPENAI_CURRENT: dict[str, Value] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "chatcmpl-123",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.cache_read.input_tokens": 400,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.reasoning.output_tokens": 100,
    "user.id": "u-42",
}


def test_current_convention_openai_span_maps_to_disjoint_buckets() -> None:
    """Cached input and reasoning output are split out of inclusive totals; ids, times and context kept."""
    span = _span(OPENAI_CURRENT)
    mapping = _map(span)
    ref, event = mapping.events[0]
    assert mapping.rejected == []
    assert mapping.ignored == 0
    assert ref == SpanRef(trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), name=span.name)
    assert event == TokenEventIn(
        id=call_event_id("openai", "chatcmpl-123"),
        timestamp=NOW - timedelta(minutes=2),
        provider="openai",
        model="gpt-4o-2024-08-06",
        input_tokens=600,
        cache_read_tokens=400,
        output_tokens=200,
        reasoning_tokens=100,
        latency_ms=1500.0,
        status=CallStatus.OK,
        user="u-42",
        project="checkout",
        request_id="chatcmpl-123",
    )
    assert (event.id or "").startswith("call:openai:")


def test_older_convention_span_with_gen_ai_system_and_deprecated_token_names() -> None:
    """`gen_ai.system`, `gen_ai.usage.prompt_tokens`/`completion_tokens` and `enduser.id` still map."""
    event = _only_event(
        _map(
            _span(
                {
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.prompt_tokens": 120,
                    "gen_ai.usage.completion_tokens": 30,
                    "enduser.id": "alice",
                }
            )
        )
    )
    assert (event.provider, event.model) == ("openai", "gpt-4o-mini")
    assert (event.input_tokens, event.output_tokens) == (120, 30)
    assert event.user == "alice"


def test_anthropic_cache_read_and_creation_are_subtracted_from_inclusive_input() -> None:
    """Per the conventions input_tokens includes cache reads and writes: uncached = input - read - write."""
    event = _only_event(
        _map(
            _span(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.usage.input_tokens": 5000,
                    "gen_ai.usage.cache_read.input_tokens": 3000,
                    "gen_ai.usage.cache_creation.input_tokens": 1500,
                    "gen_ai.usage.output_tokens": 250,
                }
            )
        )
    )
    assert (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens, event.output_tokens) == (
        500,
        3000,
        1500,
        250,
    )


def test_anthropic_native_disjoint_counts_are_kept_when_cache_exceeds_input() -> None:
    """An instrumentation copying Anthropic's own input_tokens (cache excluded) is read as disjoint."""
    event = _only_event(
        _map(
            _span(
                {
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-3-5-haiku",
                    "gen_ai.usage.input_tokens": 12,
                    "gen_ai.usage.cache_read_input_tokens": 4000,
                    "gen_ai.usage.cache_creation_input_tokens": 800,
                    "gen_ai.usage.output_tokens": 90,
                }
            )
        )
    )
    assert (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens) == (12, 4000, 800)


@pytest.mark.parametrize(
    ("provider_attribute", "value"),
    [
        ("gen_ai.provider.name", "gcp.gemini"),
        ("gen_ai.provider.name", "gcp.vertex_ai"),
        ("gen_ai.provider.name", "gcp.gen_ai"),
        ("gen_ai.system", "gemini"),
        ("gen_ai.system", "vertex_ai"),
    ],
)
def test_gemini_spans_with_cached_content_and_thoughts(provider_attribute: str, value: str) -> None:
    """Every Google GenAI provider value is `gemini`; cached content and thinking tokens are split out."""
    event = _only_event(
        _map(
            _span(
                {
                    "gen_ai.operation.name": "generate_content",
                    provider_attribute: value,
                    "gen_ai.request.model": "gemini-2.5-flash",
                    "gen_ai.usage.input_tokens": 2048,
                    "gen_ai.usage.cache_read.input_tokens": 1024,
                    "gen_ai.usage.output_tokens": 700,
                    "gen_ai.usage.reasoning.output_tokens": 500,
                }
            )
        )
    )
    assert event.provider == "gemini"
    assert (event.input_tokens, event.cache_read_tokens, event.output_tokens, event.reasoning_tokens) == (
        1024,
        1024,
        200,
        500,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("azure.ai.openai", "openai"),
        ("az.ai.openai", "openai"),
        ("aws.bedrock", "bedrock"),
        ("x_ai", "xai"),
        ("mistral_ai", "mistral"),
        ("OpenAI", "openai"),
        ("SomeCorp", "somecorp"),
    ],
)
def test_provider_values_are_normalised_to_our_ids(value: str, expected: str) -> None:
    """Semantic-convention provider names map to the provider ids the price source knows."""
    attributes = {**OPENAI_CURRENT, "gen_ai.provider.name": value}
    assert _only_event(_map(_span(attributes))).provider == expected


def test_non_genai_spans_and_aggregates_are_ignored_not_rejected() -> None:
    """HTTP spans, GenAI spans without usage, agent spans (their usage sums their children) are skipped;
    usage without a provider is refused, saying so."""
    http = _span({"http.request.method": "POST", "url.full": "https://api.openai.com/v1/chat/completions"})
    no_usage = _span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"})
    agent = _span(
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000,
        }
    )
    tool = _span({"gen_ai.operation.name": "execute_tool", "gen_ai.usage.output_tokens": 3})
    usage_only = _span({"gen_ai.usage.input_tokens": 10})
    call = _span(OPENAI_CURRENT)
    mapping = _map(http, no_usage, agent, tool, usage_only, call)
    assert mapping.ignored == 4
    assert mapping.rejected == [
        (mapping.rejected[0][0], "no gen_ai.provider.name, gen_ai.system or llm.provider")
    ]
    assert mapping.rejected[0][0].span_id == usage_only.span_id.hex()
    assert [ref.span_id for ref, _ in mapping.events] == [call.span_id.hex()]


def test_resource_level_provider_does_not_make_plain_spans_calls() -> None:
    """A provider on the resource applies to GenAI spans but leaves spans without usage ignored."""
    plain = _span({"db.system": "postgresql"})
    call = _span({"gen_ai.request.model": "claude-3-opus", "gen_ai.usage.input_tokens": 9})
    mapping = _map(plain, call, resource={"service.name": "bot", "gen_ai.provider.name": "anthropic"})
    assert mapping.ignored == 1
    assert _only_event(mapping).provider == "anthropic"


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"gen_ai.usage.input_tokens": -5}, "gen_ai.usage.input_tokens is negative"),
        ({"gen_ai.usage.cache_read.input_tokens": "-1"}, "gen_ai.usage.cache_read.input_tokens is negative"),
        ({"gen_ai.usage.output_tokens": 10**12}, "output_tokens"),
        ({"gen_ai.usage.input_tokens": 2**63 - 1}, "input_tokens"),
        ({"gen_ai.usage.input_tokens": "lots"}, "gen_ai.usage.input_tokens is not an integer"),
        ({"gen_ai.usage.input_tokens": 12.5}, "gen_ai.usage.input_tokens is not an integer"),
        ({"gen_ai.usage.input_tokens": True}, "gen_ai.usage.input_tokens is not an integer"),
        ({"gen_ai.usage.input_tokens": ["1", "2"]}, "gen_ai.usage.input_tokens is not an integer"),
        ({"gen_ai.request.model": "", "gen_ai.response.model": ""}, "no gen_ai.response.model"),
        ({"gen_ai.provider.name": "not a provider!"}, "provider"),
        ({"mno.tag.bad key": "x"}, "tags"),
        ({f"mno.tag.k{i}": "v" for i in range(21)}, "tags"),
    ],
)
def test_unmappable_genai_spans_are_rejected_with_a_reason(attributes: dict[str, Value], reason: str) -> None:
    """Bad counts or fields reject the span with a reason naming the problem; no exception escapes."""
    mapping = _map(_span({**OPENAI_CURRENT, **attributes}), _span(OPENAI_CURRENT))
    assert len(mapping.events) == 1
    assert len(mapping.rejected) == 1
    assert reason in mapping.rejected[0][1]


def test_genai_span_without_provider_is_rejected() -> None:
    """A chat span with usage but no provider cannot be priced: rejected, not silently dropped."""
    attributes = {k: v for k, v in OPENAI_CURRENT.items() if k != "gen_ai.provider.name"}
    assert "gen_ai.provider.name" in _only_rejection(_map(_span(attributes)))


def test_spans_with_bad_ids_or_from_the_future_are_rejected() -> None:
    """Event ids need a 16-byte trace id and 8-byte span id; a start far after `now` is a broken clock."""
    short_id = _span(OPENAI_CURRENT, trace_id=b"\x01" * 8)
    future = _span(OPENAI_CURRENT, start_ns=START_NS + 3600 * 1_000_000_000)
    mapping = _map(short_id, future)
    assert mapping.events == []
    reasons = [reason for _, reason in mapping.rejected]
    assert "trace id" in reasons[0]
    assert "future" in reasons[1]


def test_too_long_call_is_rejected_by_event_validation() -> None:
    """A latency over a day fails TokenEventIn validation and becomes a rejection reason."""
    reason = _only_rejection(_map(_span(OPENAI_CURRENT, duration_ms=2 * 86_400_000)))
    assert "latency_ms" in reason


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        (Status.STATUS_CODE_ERROR, {}, CallStatus.ERROR),
        (Status.STATUS_CODE_UNSET, {"error.type": "RateLimitError"}, CallStatus.ERROR),
        (Status.STATUS_CODE_OK, {}, CallStatus.OK),
        (Status.STATUS_CODE_UNSET, {}, CallStatus.OK),
    ],
)
def test_status_error_from_span_status_or_error_type(
    status: Status.StatusCode.ValueType, extra: dict[str, Value], expected: CallStatus
) -> None:
    """A span status ERROR or an `error.type` attribute marks the call failed."""
    event = _only_event(_map(_span({**OPENAI_CURRENT, **extra}, status=status)))
    assert event.status == expected


def test_context_attributes_resource_scope_span_precedence() -> None:
    """mno.project overrides service.name; span beats scope beats resource; tags and prompt fields kept."""
    span = _span(
        {
            **OPENAI_CURRENT,
            "mno.tag.feature": "summary",
            "mno.tag.tier": 2,
            "mno.prompt.version": 3,
            "gen_ai.prompt.name": "analyze-code",
            "user.id": "span-user",
        }
    )
    mapping = _map(
        span,
        resource={
            "service.name": "checkout",
            "mno.project": "billing",
            "mno.tag.env": "prod",
            "mno.tag.feature": "resource-value",
            "user.id": "resource-user",
        },
        scope={"mno.tag.env": "staging", "mno.prompt.name": "summarise"},
    )
    event = _only_event(mapping)
    assert event.project == "billing"
    assert event.tags == {"env": "staging", "feature": "summary", "tier": "2"}
    assert event.user == "span-user"
    assert (event.prompt_name, event.prompt_version) == ("summarise", "3")


def test_span_project_overrides_resource_project_and_default_service_name_is_no_project() -> None:
    """A span-level mno.project wins; the SDK's `unknown_service` default yields no project."""
    on_span = _only_event(_map(_span({**OPENAI_CURRENT, "mno.project": "search"})))
    default = _only_event(_map(_span(OPENAI_CURRENT), resource={"service.name": "unknown_service:python3"}))
    assert on_span.project == "search"
    assert default.project is None


def test_prompt_name_falls_back_to_the_gen_ai_attribute() -> None:
    """Without mno.prompt.name, the conventions' gen_ai.prompt.name names the prompt."""
    event = _only_event(_map(_span({**OPENAI_CURRENT, "gen_ai.prompt.name": "analyze-code"})))
    assert event.prompt_name == "analyze-code"


def test_counts_sent_as_doubles_or_strings_are_read() -> None:
    """Token counts as integral doubles or digit strings are accepted."""
    attributes = {
        **OPENAI_CURRENT,
        "gen_ai.usage.input_tokens": 1000.0,
        "gen_ai.usage.cache_read.input_tokens": "400",
        "gen_ai.usage.output_tokens": " 300 ",
    }
    event = _only_event(_map(_span(attributes)))
    assert (event.input_tokens, event.cache_read_tokens, event.output_tokens) == (600, 400, 200)


def test_request_model_is_used_when_no_response_model() -> None:
    """gen_ai.request.model names the model when the response did not."""
    attributes = {k: v for k, v in OPENAI_CURRENT.items() if k != "gen_ai.response.model"}
    assert _only_event(_map(_span(attributes))).model == "gpt-4o"


def test_span_without_times_is_dated_now_without_latency() -> None:
    """A span with no start time takes `now` and reports no latency."""
    event = _only_event(_map(_span(OPENAI_CURRENT, start_ns=0)))
    assert event.timestamp == NOW
    assert event.latency_ms is None


def test_re_exported_span_gets_the_same_event_id() -> None:
    """The same span exported twice yields the same event id, so it is counted once downstream."""
    no_response_id = {k: v for k, v in OPENAI_CURRENT.items() if k != "gen_ai.response.id"}
    first = _only_event(_map(_span(no_response_id, trace_id=b"\xab" * 16, span_id=b"\xcd" * 8)))
    again = _only_event(_map(_span(no_response_id, trace_id=b"\xab" * 16, span_id=b"\xcd" * 8)))
    assert first.id == again.id == "ab" * 16 + ":" + "cd" * 8


def test_naive_now_is_refused() -> None:
    """`now` must be timezone-aware: comparing it with span times would otherwise be meaningless."""
    with pytest.raises(ValueError, match="timezone-aware"):
        spans_to_events(_request(_span(OPENAI_CURRENT)), now=NOW.replace(tzinfo=None))


def test_hand_written_otlp_json_maps_to_an_event_with_hex_ids() -> None:
    """OTLP/JSON as an exporter writes it (hex ids, string ints) maps end to end to the right event id."""
    body = """{"resourceSpans":[{
      "resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"support-bot"}},
        {"key":"mno.tag.team","value":{"stringValue":"cx"}}]},
      "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.anthropic"},"spans":[
        {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"chat claude",
         "kind":3,"startTimeUnixNano":"1748779080000000000","endTimeUnixNano":"1748779082500000000",
         "status":{"code":2},
         "attributes":[
          {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
          {"key":"gen_ai.provider.name","value":{"stringValue":"anthropic"}},
          {"key":"gen_ai.request.model","value":{"stringValue":"claude-sonnet-4-5"}},
          {"key":"gen_ai.usage.input_tokens","value":{"intValue":"2100"}},
          {"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"2000"}},
          {"key":"gen_ai.usage.output_tokens","value":{"intValue":42}},
          {"key":"gen_ai.response.id","value":{"stringValue":"msg_01"}}]},
        {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","name":"GET /",
         "kind":2,"startTimeUnixNano":"1748779079000000000","endTimeUnixNano":"1748779083000000000"}
      ]}]}]}"""
    mapping = spans_to_events(decode_request(body.encode(), "application/json", None), now=NOW)
    assert mapping.ignored == 1
    event = _only_event(mapping)
    assert event.id == call_event_id("anthropic", "msg_01")
    assert event.timestamp == datetime(2025, 6, 1, 11, 58, tzinfo=UTC)
    assert event.latency_ms == 2500.0
    assert (event.input_tokens, event.cache_read_tokens, event.output_tokens) == (100, 2000, 42)
    assert event.status == CallStatus.ERROR
    assert (event.project, event.tags, event.request_id) == ("support-bot", {"team": "cx"}, "msg_01")


@pytest.mark.parametrize(
    "one_hour_key",
    [
        "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens",
        "gen_ai.usage.cache_creation.ephemeral_1h.input_tokens",
        "dash0.gen_ai.usage.cache_creation.ephemeral_1h.input_tokens",
    ],
)
def test_one_hour_cache_writes_are_their_own_bucket(one_hour_key: str) -> None:
    """1-hour cache writes leave the cache creation total (which counts them) and the inclusive input."""
    event = _only_event(
        _map(
            _span(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.usage.input_tokens": 10_000,
                    "gen_ai.usage.cache_read.input_tokens": 3_000,
                    "gen_ai.usage.cache_creation.input_tokens": 5_000,
                    one_hour_key: 4_000,
                    "gen_ai.usage.output_tokens": 250,
                }
            )
        )
    )
    assert (
        event.input_tokens,
        event.cache_read_tokens,
        event.cache_write_tokens,
        event.cache_write_1h_tokens,
    ) == (2_000, 3_000, 1_000, 4_000)


def test_one_hour_writes_without_a_cache_creation_total_are_all_the_writes() -> None:
    """Only 1-hour writes named: no 5-minute writes; a creation count below them: it is the 5-minute part."""
    only_1h = _only_event(
        _map(
            _span(
                {
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens": 60,
                }
            )
        )
    )
    assert (only_1h.input_tokens, only_1h.cache_write_tokens, only_1h.cache_write_1h_tokens) == (40, 0, 60)
    disjoint = _only_event(
        _map(
            _span(
                {
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.usage.input_tokens": 1_000,
                    "gen_ai.usage.cache_creation.input_tokens": 20,
                    "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens": 60,
                }
            )
        )
    )
    assert (disjoint.input_tokens, disjoint.cache_write_tokens, disjoint.cache_write_1h_tokens) == (
        920,
        20,
        60,
    )
