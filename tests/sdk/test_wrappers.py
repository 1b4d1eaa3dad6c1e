"""The drop-in clients and stream helpers, with the real `openai`, `anthropic` and `google-genai`
libraries calling a local stand-in provider, and the SDK reporting to the real edge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.genai import types as genai_types

import mno_sdk.instrument
from mno_sdk import MnoClient, UsageNotFound
from mno_sdk.anthropic import Anthropic, AsyncAnthropic
from mno_sdk.gemini import Client as GeminiClient
from mno_sdk.openai import AsyncOpenAI, OpenAI
from services.pricing.models import Usage
from shared.messages.telemetry import TokenEventIn
from tests.sdk.conftest import MakeClient
from tests.sdk.edge_proxy import EdgeProxy
from tests.sdk.stand_in_provider import (
    ANTHROPIC_BUCKETS,
    GEMINI_BUCKETS,
    OPENAI_CHAT_BUCKETS,
    OPENAI_RESPONSES_BUCKETS,
    StandInProvider,
)

CHAT = [{"role": "user", "content": "Hi"}]


def buckets(event: TokenEventIn) -> Usage:
    return Usage(
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cache_read_tokens=event.cache_read_tokens,
        cache_write_tokens=event.cache_write_tokens,
        reasoning_tokens=event.reasoning_tokens,
        cache_write_1h_tokens=event.cache_write_1h_tokens,
    )


def recorded(edge: EdgeProxy, mno: MnoClient, count: int = 1) -> list[TokenEventIn]:
    """The events the real edge accepted from `mno` so far (exactly `count` of them)."""
    assert mno.flush(timeout=10)
    events = list(edge.stored.values())
    assert len(events) == count, (events, mno.stats)
    return events


@pytest.fixture
def mno(make_client: MakeClient) -> MnoClient:
    return make_client()


def _openai(provider: StandInProvider, mno: MnoClient, **options: Any) -> OpenAI:
    return OpenAI(api_key="sk-test", base_url=f"{provider.url}/v1", max_retries=0, mno=mno, **options)


def test_openai_chat_completion_is_recorded(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """chat.completions.create through the drop-in OpenAI client records the call's exact buckets."""
    client = _openai(provider, mno, mno_context={"project": "search"})
    response = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)  # type: ignore[arg-type]
    assert response.choices[0].message.content == "Hi"
    (event,) = recorded(edge, mno)
    assert buckets(event) == OPENAI_CHAT_BUCKETS
    assert (event.provider, event.model, event.request_id, event.project) == (
        "openai",
        "gpt-4o-mini",
        "chatcmpl-standin",
        "search",
    )
    assert event.latency_ms is not None
    assert event.latency_ms > 0


def test_openai_stream_asks_for_usage_and_hides_the_extra_chunk(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """A chat stream without include_usage gets it asked for; the caller sees only its own chunks."""
    client = _openai(provider, mno)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=True)  # type: ignore[arg-type]
    chunks = list(stream)
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
    assert [len(chunk.choices) for chunk in chunks] == [1, 1]
    (event,) = recorded(edge, mno)
    assert buckets(event) == OPENAI_CHAT_BUCKETS


def test_openai_stream_with_the_callers_include_usage_passes_every_chunk(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """A caller that asked for usage itself gets the usage chunk, unchanged, and the call is recorded."""
    client = _openai(provider, mno)
    with client.chat.completions.create(
        model="gpt-4o-mini",
        messages=CHAT,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = list(stream)
    assert chunks[-1].usage is not None
    assert chunks[-1].choices == []
    (event,) = recorded(edge, mno)
    assert buckets(event) == OPENAI_CHAT_BUCKETS


async def test_async_openai_streams_and_responses_are_recorded(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """AsyncOpenAI: a chat stream and a Responses API stream are each recorded once with their buckets."""
    client = AsyncOpenAI(api_key="sk-test", base_url=f"{provider.url}/v1", max_retries=0, mno=mno)
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=True)  # type: ignore[arg-type]
    assert [len(chunk.choices) async for chunk in stream] == [1, 1]
    events = [
        event async for event in await client.responses.create(model="o4-mini", input="Hi", stream=True)
    ]
    assert events[-1].type == "response.completed"
    first, second = sorted(recorded(edge, mno, 2), key=lambda e: e.model)
    assert (first.model, buckets(first)) == ("gpt-4o-mini", OPENAI_CHAT_BUCKETS)
    assert (second.model, buckets(second)) == ("o4-mini", OPENAI_RESPONSES_BUCKETS)


def test_openai_responses_and_copies_are_recorded(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """responses.create is recorded, also on a client made by with_options (a copy keeps recording)."""
    client = _openai(provider, mno).with_options(timeout=5)
    client.responses.create(model="o4-mini", input="Hi")
    (event,) = recorded(edge, mno)
    assert (event.request_id, buckets(event)) == ("resp_standin", OPENAI_RESPONSES_BUCKETS)


def test_a_failed_provider_call_is_recorded_as_an_error_and_raised(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """The provider's 500 reaches the app unchanged and is recorded as an error event."""
    client = _openai(provider, mno)
    provider.fail_next(500)
    with pytest.raises(Exception, match="500"):
        client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)  # type: ignore[arg-type]
    (event,) = recorded(edge, mno)
    assert event.status == "error"


def test_anthropic_messages_and_streams_are_recorded(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """messages.create, create(stream=True) and messages.stream() all record input, both cache write
    lifetimes, cache reads and output; the stream's input comes from message_start, not 0."""
    client = Anthropic(api_key="sk-ant-test", base_url=provider.url, max_retries=0, mno=mno)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=CHAT)  # type: ignore[arg-type]
    kinds = [
        e.type
        for e in client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=CHAT, stream=True)
    ]  # type: ignore[arg-type]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=CHAT) as stream:  # type: ignore[arg-type]
        assert "".join(stream.text_stream) == "Hi"
    events = recorded(edge, mno, 3)
    assert [buckets(event) for event in events] == [ANTHROPIC_BUCKETS] * 3
    assert {event.request_id for event in events} == {"msg_standin"}


async def test_async_anthropic_streams_are_recorded(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """AsyncAnthropic: create(stream=True) and `async with messages.stream()` are recorded exactly."""
    client = AsyncAnthropic(api_key="sk-ant-test", base_url=provider.url, max_retries=0, mno=mno)
    stream = await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=CHAT, stream=True
    )  # type: ignore[arg-type]
    async with stream:
        assert [e.type async for e in stream][-1] == "message_stop"
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=CHAT) as managed:  # type: ignore[arg-type]
        await managed.get_final_message()
    assert [buckets(event) for event in recorded(edge, mno, 2)] == [ANTHROPIC_BUCKETS] * 2


def _gemini(provider: StandInProvider, mno: MnoClient) -> GeminiClient:
    options = genai_types.HttpOptions(base_url=provider.url, api_version="v1beta")
    return GeminiClient(api_key="g-test", http_options=options, mno=mno)


def test_gemini_content_and_streams_are_recorded(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """generate_content and generate_content_stream record cached, thinking and output tokens."""
    client = _gemini(provider, mno)
    assert client.models.generate_content(model="gemini-2.5-flash", contents="Hi").text == "Hi"
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi"))
    assert len(chunks) == 2
    events = recorded(edge, mno, 2)
    assert [(event.model, buckets(event)) for event in events] == [("gemini-2.5-flash", GEMINI_BUCKETS)] * 2


async def test_async_gemini_is_recorded(edge: EdgeProxy, provider: StandInProvider, mno: MnoClient) -> None:
    """client.aio.models: generate_content and generate_content_stream are recorded."""
    client = _gemini(provider, mno)
    await client.aio.models.generate_content(model="gemini-2.5-flash", contents="Hi")
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi")
    assert len([chunk async for chunk in stream]) == 2
    assert [buckets(event) for event in recorded(edge, mno, 2)] == [GEMINI_BUCKETS] * 2


@pytest.fixture
def environment_client(edge: EdgeProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(mno_sdk.instrument.BASE_URL_VARIABLE, edge.base_url)
    monkeypatch.setenv(mno_sdk.instrument.API_KEY_VARIABLE, edge.api_key)
    monkeypatch.setattr(mno_sdk.instrument, "_default", None)
    yield
    client = mno_sdk.instrument._default
    if client is not None:
        client.close(timeout=2)


def test_the_environment_is_the_only_change_needed(
    edge: EdgeProxy, provider: StandInProvider, environment_client: None
) -> None:
    """With MNO_BASE_URL and MNO_API_KEY set, swapping the import is all it takes to record calls."""
    client = OpenAI(api_key="sk-test", base_url=f"{provider.url}/v1", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)  # type: ignore[arg-type]
    default = mno_sdk.instrument._default
    assert default is not None
    (event,) = recorded(edge, default)
    assert buckets(event) == OPENAI_CHAT_BUCKETS


def test_record_stream_wraps_any_provider_stream(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """client.record_stream over a plain library stream passes chunks through and records at the end."""
    import anthropic

    plain = anthropic.Anthropic(api_key="sk-ant-test", base_url=provider.url, max_retries=0)
    stream = plain.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=CHAT, stream=True)  # type: ignore[arg-type]
    with pytest.raises(UsageNotFound, match="record_stream"):
        mno.record_anthropic(stream)
    wrapped = mno.record_stream("anthropic", stream, project="p")
    kinds = [event.type for event in wrapped]
    assert kinds[0] == "message_start"
    (event,) = recorded(edge, mno)
    assert (buckets(event), event.project) == (ANTHROPIC_BUCKETS, "p")


def test_the_final_anthropic_stream_event_alone_is_refused(mno: MnoClient) -> None:
    """Recording only message_delta (output count only) raises instead of billing 0 input tokens."""
    final = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 300}}
    with pytest.raises(UsageNotFound, match="message_start"):
        mno.record_anthropic(final, model="claude-sonnet-4-5")


def test_openai_stream_helpers_are_recorded_once(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient
) -> None:
    """chat.completions.stream() and responses.stream() (the library's helpers) are each recorded once."""
    client = _openai(provider, mno)
    with client.chat.completions.stream(model="gpt-4o-mini", messages=CHAT) as stream:  # type: ignore[arg-type]
        assert stream.get_final_completion().choices[0].message.content == "Hi"
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
    with client.responses.stream(model="o4-mini", input="Hi") as responses:
        assert responses.get_final_response().output_text == "Hi"
    first, second = sorted(recorded(edge, mno, 2), key=lambda e: e.model)
    assert (first.model, buckets(first)) == ("gpt-4o-mini", OPENAI_CHAT_BUCKETS)
    assert (second.model, buckets(second)) == ("o4-mini", OPENAI_RESPONSES_BUCKETS)


def test_a_stream_without_usage_is_counted_and_explained(
    edge: EdgeProxy, provider: StandInProvider, mno: MnoClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream that never carried usage passes through, records nothing, and says why."""
    import openai

    plain = openai.OpenAI(api_key="sk-test", base_url=f"{provider.url}/v1", max_retries=0)
    stream = plain.chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=True)  # type: ignore[arg-type]
    assert len(list(mno.record_stream("openai", stream))) == 2
    assert mno.flush(timeout=5)
    assert mno.stats.invalid_tracked == 1
    assert edge.stored == {}
    assert "usage requested" in caplog.text
