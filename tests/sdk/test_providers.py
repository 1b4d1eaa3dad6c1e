"""Provider responses (objects and JSON) become events with the right disjoint buckets, on the server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from mno_sdk import MnoClient, TrackedCall, UsageNotFound, from_gemini_response, from_openai_response
from mno_sdk import track as track_module
from tests.sdk import providers as p
from tests.sdk.conftest import MakeClient
from tests.sdk.edge_proxy import EdgeProxy

BUCKETS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")

CASES = [
    pytest.param(
        "openai", p.OPENAI_CHAT_OBJECT, p.OPENAI_CHAT_BUCKETS, "o4-mini-2025-04-16", id="openai-chat-object"
    ),
    pytest.param(
        "openai", p.OPENAI_CHAT_JSON, p.OPENAI_CHAT_BUCKETS, "o4-mini-2025-04-16", id="openai-chat-json"
    ),
    pytest.param(
        "openai",
        p.OPENAI_RESPONSES_OBJECT,
        p.OPENAI_RESPONSES_BUCKETS,
        "o3-2025-04-16",
        id="openai-responses-pydantic",
    ),
    pytest.param(
        "openai",
        p.OPENAI_RESPONSES_JSON,
        p.OPENAI_RESPONSES_BUCKETS,
        "o3-2025-04-16",
        id="openai-responses-json",
    ),
    pytest.param(
        "anthropic",
        p.ANTHROPIC_OBJECT,
        p.ANTHROPIC_BUCKETS,
        "claude-sonnet-4-5-20250929",
        id="anthropic-object",
    ),
    pytest.param(
        "anthropic", p.ANTHROPIC_JSON, p.ANTHROPIC_BUCKETS, "claude-sonnet-4-5-20250929", id="anthropic-json"
    ),
    pytest.param("gemini", p.GEMINI_OBJECT, p.GEMINI_BUCKETS, "gemini-2.5-flash", id="gemini-object"),
    pytest.param("gemini", p.GEMINI_JSON, p.GEMINI_BUCKETS, "gemini-2.5-flash", id="gemini-json"),
]

REQUEST_IDS = {
    "openai": {
        "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    },
    "anthropic": {"msg_01XFDUDYJgAACzvnptvVoYEL"},
    "gemini": {"mKpfaPaLI8asvdIPn9DxqAk"},
}


def _record(client: MnoClient, provider: str, response: Any, **context: Any) -> str:
    method = getattr(client, f"record_{provider}")
    event_id: str = method(response, **context)
    return event_id


def _buckets(edge: EdgeProxy, event_id: str) -> dict[str, int]:
    stored = edge.stored[event_id]
    return {name: getattr(stored, name) for name in BUCKETS}


@pytest.mark.parametrize(("provider", "response", "buckets", "model"), CASES)
def test_responses_map_to_disjoint_buckets(
    edge: EdgeProxy,
    make_client: MakeClient,
    provider: str,
    response: Any,
    buckets: dict[str, int],
    model: str,
) -> None:
    """record_<provider>(response) sends the response's usage split into the disjoint buckets."""
    client = make_client()
    event_id = _record(client, provider, response, project="search", user="u-7", latency_ms=840.0)
    assert client.flush(timeout=5)
    stored = edge.stored[event_id]
    assert _buckets(edge, event_id) == buckets
    assert (stored.provider, stored.model, stored.project, stored.user) == (provider, model, "search", "u-7")
    assert stored.request_id in REQUEST_IDS[provider]
    assert stored.latency_ms == 840.0


def test_caller_model_and_request_id_win(edge: EdgeProxy, make_client: MakeClient) -> None:
    """An explicit model= and request_id= override what the response names."""
    client = make_client()
    event_id = client.record_anthropic(p.ANTHROPIC_JSON, model="claude-sonnet-4-5", request_id="req_x")
    assert client.flush(timeout=5)
    assert (edge.stored[event_id].model, edge.stored[event_id].request_id) == ("claude-sonnet-4-5", "req_x")


def test_openai_compatible_providers_keep_their_name(edge: EdgeProxy, make_client: MakeClient) -> None:
    """record_openai(..., provider="azure") reads OpenAI's shape but reports the given provider."""
    client = make_client()
    event_id = client.record_openai(p.OPENAI_CHAT_JSON, provider="azure")
    assert client.flush(timeout=5)
    assert edge.stored[event_id].provider == "azure"
    assert _buckets(edge, event_id) == p.OPENAI_CHAT_BUCKETS


def test_a_response_without_usage_raises_usage_not_found(make_client: MakeClient) -> None:
    """A streamed chunk without usage is refused with UsageNotFound (a ValueError), nothing queued."""
    client = make_client()
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o", "usage": None}
    with pytest.raises(UsageNotFound, match="usage"):
        client.record_openai(chunk)
    with pytest.raises(ValueError, match="usage_metadata"):
        client.record_gemini({"candidates": []})
    assert client.stats.queued == 0


def test_a_response_naming_no_model_needs_model(edge: EdgeProxy, make_client: MakeClient) -> None:
    """A Gemini response without modelVersion needs model=; with it the event is sent."""
    client = make_client()
    response = {**p.GEMINI_JSON, "modelVersion": None}
    with pytest.raises(ValueError, match="model"):
        client.record_gemini(response)
    event_id = client.record_gemini(response, model="gemini-2.5-pro")
    assert client.flush(timeout=5)
    assert edge.stored[event_id].model == "gemini-2.5-pro"


def test_inconsistent_usage_is_refused() -> None:
    """More cached than prompt tokens cannot be split into buckets and raises ValueError."""
    broken = {
        "model": "gpt-4o",
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 11},
        },
    }
    with pytest.raises(ValueError, match="cannot exceed prompt tokens"):
        from_openai_response(broken)


def test_tool_use_prompt_tokens_count_as_input() -> None:
    """Gemini's toolUsePromptTokenCount (outside promptTokenCount) is added to uncached input."""
    response = {
        **p.GEMINI_JSON,
        "usageMetadata": {**p.GEMINI_JSON["usageMetadata"], "toolUsePromptTokenCount": 50},
    }
    assert from_gemini_response(response).usage.input_tokens == 250


# ---- track ----------------------------------------------------------------------------------


def test_track_times_the_call_and_records_the_response(
    edge: EdgeProxy, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`with client.track(...) as call` records the response with the block's latency and context."""
    client = make_client()
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(track_module, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    with client.track("openai", project="x", tags={"feature": "chat"}) as call:
        clock.now += 0.05
        call.response(p.OPENAI_CHAT_OBJECT)
        clock.now += 0.2  # work after the response arrived is not the call's latency
    assert client.flush(timeout=5)
    stored = edge.stored[call.event_id]
    assert stored.latency_ms == pytest.approx(50.0)
    assert (stored.project, stored.tags, stored.status) == ("x", {"feature": "chat"}, "ok")
    assert _buckets(edge, call.event_id) == p.OPENAI_CHAT_BUCKETS


def test_track_records_a_failed_call_and_reraises(edge: EdgeProxy, make_client: MakeClient) -> None:
    """An exception before the response records an `error` event; any exception propagates unchanged."""
    client = make_client()
    with pytest.raises(RuntimeError, match="provider down"):
        with client.track("anthropic", model="claude-sonnet-4-5") as call:
            raise RuntimeError("provider down")
    calls: list[TrackedCall] = []

    def answered_then_failed() -> None:
        with client.track("anthropic") as answered:
            calls.append(answered)
            answered.response(p.ANTHROPIC_JSON)
            raise KeyError("the app's own bug, after the call succeeded")

    with pytest.raises(KeyError):
        answered_then_failed()
    answered = calls[0]
    assert client.flush(timeout=5)
    stored = edge.stored[call.event_id]
    assert (stored.status, stored.model, stored.input_tokens, stored.output_tokens) == (
        "error",
        "claude-sonnet-4-5",
        0,
        0,
    )
    assert (edge.stored[answered.event_id].status, edge.stored[answered.event_id].input_tokens) == ("ok", 21)


def test_track_without_usable_usage_never_breaks_the_app(edge: EdgeProxy, make_client: MakeClient) -> None:
    """A tracked response without usage (or no response) is logged and counted, not raised."""
    client = make_client()
    with client.track("openai") as call:
        call.response({"model": "gpt-4o", "usage": None})
    with client.track("gemini"):
        pass
    assert client.flush(timeout=5)
    assert client.stats.invalid_tracked == 2
    assert edge.requests == []
    assert call.event_id not in edge.stored


def test_track_with_manual_counts_for_other_providers(edge: EdgeProxy, make_client: MakeClient) -> None:
    """For a provider with no known shape, call.usage(...) gives the counts and model directly."""
    client = make_client()
    with client.track("mistral") as call:
        call.usage(model="mistral-large-latest", input_tokens=12, output_tokens=34)
    with client.track("groq", shape="openai") as compat:
        compat.response(p.OPENAI_CHAT_JSON)
    assert client.flush(timeout=5)
    assert edge.stored[call.event_id].model == "mistral-large-latest"
    assert (edge.stored[call.event_id].input_tokens, edge.stored[call.event_id].output_tokens) == (12, 34)
    assert edge.stored[compat.event_id].provider == "groq"
    assert _buckets(edge, compat.event_id) == p.OPENAI_CHAT_BUCKETS


def test_track_as_a_decorator_records_every_call(edge: EdgeProxy, make_client: MakeClient) -> None:
    """A decorated function's return value is recorded once per call, each with its own id."""
    client = make_client()

    @client.track("anthropic", project="bot")
    def ask(question: str) -> Any:
        return p.ANTHROPIC_OBJECT

    assert ask("a") is p.ANTHROPIC_OBJECT
    ask("b")
    assert client.flush(timeout=5)
    assert len(edge.stored) == 2
    for stored in edge.stored.values():
        assert (stored.provider, stored.project, stored.cache_read_tokens) == ("anthropic", "bot", 10_500)


async def test_track_decorates_coroutines_and_async_with(edge: EdgeProxy, make_client: MakeClient) -> None:
    """`async def` functions and `async with` blocks are tracked like sync ones."""
    client = make_client()

    @client.track("gemini")
    async def generate() -> Any:
        await asyncio.sleep(0.02)
        return p.GEMINI_OBJECT

    assert await generate() is p.GEMINI_OBJECT
    async with client.track("openai") as call:
        call.response(p.OPENAI_RESPONSES_OBJECT)
    assert await client.aflush(timeout=5)
    assert len(edge.stored) == 2
    gemini = next(s for s in edge.stored.values() if s.provider == "gemini")
    assert gemini.latency_ms is not None
    assert gemini.latency_ms >= 20
    assert _buckets(edge, call.event_id) == p.OPENAI_RESPONSES_BUCKETS


@pytest.mark.parametrize("response", [p.ANTHROPIC_1H_OBJECT, p.ANTHROPIC_1H_JSON], ids=["object", "json"])
def test_anthropic_one_hour_cache_writes_travel_as_their_own_bucket(
    edge: EdgeProxy, make_client: MakeClient, response: Any
) -> None:
    """record_anthropic splits cache_creation_input_tokens into 5-minute and 1-hour writes, none twice."""
    client = make_client()
    event_id = client.record_anthropic(response)
    assert client.flush(timeout=5)
    stored = edge.stored[event_id]
    assert {name: getattr(stored, name) for name in p.ANTHROPIC_1H_BUCKETS} == p.ANTHROPIC_1H_BUCKETS


def test_events_without_one_hour_writes_omit_the_field(edge: EdgeProxy, make_client: MakeClient) -> None:
    """The SDK leaves cache_write_1h_tokens out when zero, so servers older than the field take its events."""
    client = make_client()
    client.record("openai", "gpt-4o", input_tokens=5)
    client.record("anthropic", "claude-sonnet-4-5", cache_write_1h_tokens=3)
    assert client.flush(timeout=5)
    sent = [event for request in edge.requests for event in request.events]
    assert ["cache_write_1h_tokens" in event for event in sent] == [False, True]
