"""Proxy mode end to end: real SDKs (openai, anthropic) and raw HTTP (Gemini) against the real edge,
forwarded to a local stand-in provider, usage stored through ingest and read back from /api/v1/costs."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from services.pricing.maintained import maintained_price_source
from services.pricing.models import Usage, from_anthropic, from_gemini, from_openai
from tests.fixtures.edge import project_totals
from tests.proxy.conftest import ProxyMesh
from tests.proxy.stand_in import (
    ANTHROPIC_MODEL,
    ANTHROPIC_USAGE,
    GEMINI_MODEL,
    GEMINI_USAGE,
    OPENAI_MODEL,
    OPENAI_USAGE,
)

PRICES = maintained_price_source()


def cost(provider: str, model: str, usage: Usage) -> Decimal:
    return PRICES.price(provider, model, usage, datetime.now(UTC)).total


async def costs(
    mesh: ProxyMesh, key: str, project: str, events: int, seconds: float = 30.0
) -> dict[str, Any]:
    return await project_totals(mesh.edge_url, key, project, events, seconds)


def openai_client(mesh: ProxyMesh, key: str, project: str, **extra: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{mesh.edge_url}/proxy/openai/v1",
        api_key="sk-user-openai",
        default_headers={"X-MNO-Api-Key": key, "X-MNO-Project": project},
        max_retries=0,
        **extra,
    )


async def test_openai_sdk_calls_are_forwarded_streamed_and_priced(proxy_mesh: ProxyMesh) -> None:
    """The openai SDK through the proxy: the provider gets the user's key and the body unchanged but
    for include_usage; the caller gets no extra usage chunk; both calls are stored with exact costs."""
    mesh, project = proxy_mesh, f"p-{uuid.uuid4().hex[:8]}"
    before = len(mesh.stand_in.calls)
    client = openai_client(mesh, mesh.admin_key, project)
    messages: list[Any] = [{"role": "user", "content": "Hi"}]
    completion = await client.chat.completions.create(model="gpt-4o", messages=messages)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 1200
    stream = await client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello."
    assert all(chunk.choices for chunk in chunks), "the usage chunk the caller did not ask for was shown"
    sent = mesh.stand_in.calls[before:]
    assert [call.path for call in sent] == ["/v1/chat/completions"] * 2
    for call in sent:
        assert call.headers["Authorization"] == "Bearer sk-user-openai"
        assert not any(name.lower().startswith("x-mno-") for name in call.headers)
    assert sent[0].body == {"model": "gpt-4o", "messages": messages}
    assert sent[1].body == {
        "model": "gpt-4o",
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    totals = await costs(mesh, mesh.admin_key, project, 2)
    usage = from_openai(OPENAI_USAGE)
    assert totals["events"] == 2
    assert Decimal(totals["cost_usd"]) == 2 * cost("openai", OPENAI_MODEL, usage)
    assert (totals["input_tokens"], totals["cache_read_tokens"]) == (2 * 1000, 2 * 200)
    assert (totals["output_tokens"], totals["reasoning_tokens"]) == (2 * 200, 2 * 100)
    logs = "\n".join(str(record) for process in mesh.launcher.started for record in process.records())
    assert "sk-user-openai" not in logs


async def test_a_caller_that_asks_for_stream_usage_gets_it(proxy_mesh: ProxyMesh) -> None:
    """include_usage set by the caller is left as it is, and its usage chunk reaches the caller."""
    mesh, project = proxy_mesh, f"p-{uuid.uuid4().hex[:8]}"
    client = openai_client(mesh, mesh.admin_key, project)
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 300
    totals = await costs(mesh, mesh.admin_key, project, 1)
    assert Decimal(totals["cost_usd"]) == cost("openai", OPENAI_MODEL, from_openai(OPENAI_USAGE))


async def test_openai_responses_api_streams_are_priced(proxy_mesh: ProxyMesh) -> None:
    """The Responses API (JSON and stream): usage read from the body and from response.completed."""
    mesh, project = proxy_mesh, f"p-{uuid.uuid4().hex[:8]}"
    client = openai_client(mesh, mesh.admin_key, project)
    await client.responses.create(model="gpt-4o", input="Hi")
    stream = await client.responses.create(model="gpt-4o", input="Hi", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.completed"
    totals = await costs(mesh, mesh.admin_key, project, 2)
    assert Decimal(totals["cost_usd"]) == 2 * cost("openai", OPENAI_MODEL, from_openai(OPENAI_USAGE))


async def test_anthropic_sdk_calls_and_streams_are_priced_with_cache_writes(proxy_mesh: ProxyMesh) -> None:
    """The anthropic SDK through the proxy: its key passed through; a stream's usage is
    message_start's input side with message_delta's output; cache reads and writes priced as such."""
    mesh, project = proxy_mesh, f"p-{uuid.uuid4().hex[:8]}"
    before = len(mesh.stand_in.calls)
    client = anthropic.AsyncAnthropic(
        base_url=f"{mesh.edge_url}/proxy/anthropic",
        api_key="sk-ant-user",
        default_headers={"X-MNO-Api-Key": mesh.admin_key, "X-MNO-Project": project},
        max_retries=0,
    )
    messages: list[Any] = [{"role": "user", "content": "Hi"}]
    message = await client.messages.create(model=ANTHROPIC_MODEL, max_tokens=100, messages=messages)
    assert message.usage.cache_read_input_tokens == 2000
    async with client.messages.stream(model=ANTHROPIC_MODEL, max_tokens=100, messages=messages) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello."
    assert final.usage.output_tokens == 300
    sent = mesh.stand_in.calls[before:]
    for call in sent:  # the SDK puts the key in x-api-key or (2.x) Authorization: passed through
        assert "sk-ant-user" in (call.headers.get("x-api-key"), call.headers.get("Authorization", "")[7:])
    totals = await costs(mesh, mesh.admin_key, project, 2)
    usage = from_anthropic(ANTHROPIC_USAGE)
    assert Decimal(totals["cost_usd"]) == 2 * cost("anthropic", ANTHROPIC_MODEL, usage)
    assert (totals["input_tokens"], totals["output_tokens"]) == (200, 600)
    assert (totals["cache_read_tokens"], totals["cache_write_tokens"]) == (4000, 1000)


async def test_gemini_generate_content_and_sse_streams_are_priced(proxy_mesh: ProxyMesh) -> None:
    """generateContent, streamGenerateContent with alt=sse and without (a JSON array): the last
    usageMetadata counts, cached and thinking tokens in their buckets; x-goog-api-key passed through."""
    mesh, project = proxy_mesh, f"p-{uuid.uuid4().hex[:8]}"
    before = len(mesh.stand_in.calls)
    base = f"{mesh.edge_url}/proxy/gemini/v1beta/models/{GEMINI_MODEL}"
    headers = {"x-goog-api-key": "gm-user", "X-MNO-Api-Key": mesh.admin_key, "X-MNO-Project": project}
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    async with aiohttp.ClientSession(headers=headers) as http:
        for url in (
            f"{base}:generateContent",
            f"{base}:streamGenerateContent?alt=sse",
            f"{base}:streamGenerateContent",
        ):
            async with http.post(url, json=body) as response:
                assert response.status == 200, await response.text()
                await response.read()
    sent = mesh.stand_in.calls[before:]
    assert [call.query for call in sent] == [{}, {"alt": "sse"}, {}]
    assert all(call.headers["x-goog-api-key"] == "gm-user" and call.body == body for call in sent)
    totals = await costs(mesh, mesh.admin_key, project, 3)
    assert Decimal(totals["cost_usd"]) == 3 * cost("gemini", GEMINI_MODEL, from_gemini(GEMINI_USAGE))
    assert (totals["cache_read_tokens"], totals["reasoning_tokens"]) == (3 * 400, 3 * 50)


async def test_stream_events_reach_the_caller_as_the_provider_sends_them(proxy_mesh: ProxyMesh) -> None:
    """No buffering: with 0.3 s between the provider's events, the first event arrives long before the
    stream ends (both when passing bytes through and when re-emitting events)."""
    mesh = proxy_mesh
    mesh.stand_in.event_gap = 0.3
    headers = {"Authorization": "Bearer sk-user-openai", "X-MNO-Api-Key": mesh.admin_key}
    try:
        async with aiohttp.ClientSession() as http:
            for options in ({"include_usage": True}, None):
                body: dict[str, Any] = {"model": "gpt-4o", "messages": [], "stream": True}
                if options is not None:
                    body["stream_options"] = options
                started = time.monotonic()
                async with http.post(
                    f"{mesh.edge_url}/proxy/openai/v1/chat/completions", json=body, headers=headers
                ) as response:
                    assert response.headers["Content-Type"].startswith("text/event-stream")
                    first = await response.content.readuntil(b"\n\n")
                    first_at = time.monotonic() - started
                    await response.read()
                    ended_at = time.monotonic() - started
                assert first.startswith(b"data: ")
                assert ended_at > 1.2, (first_at, ended_at)
                assert first_at < ended_at - 0.9, (first_at, ended_at)
    finally:
        mesh.stand_in.event_gap = 0.0


async def test_errors_come_in_the_providers_shape_and_upstream_errors_pass_through(
    proxy_mesh: ProxyMesh,
) -> None:
    """No MNO key: 401 the SDKs read (OpenAI's and Anthropic's shapes, saying MNO); a wrong provider
    key: the provider's own 401 body as it sent it; neither call is recorded."""
    mesh, project = proxy_mesh, f"p-{uuid.uuid4().hex[:8]}"
    no_key = openai.AsyncOpenAI(
        base_url=f"{mesh.edge_url}/proxy/openai/v1", api_key="sk-user-openai", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as refused:
        await no_key.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert "MNO proxy" in refused.value.message
    assert refused.value.code == "mno_unauthenticated"
    anthropic_no_key = anthropic.AsyncAnthropic(
        base_url=f"{mesh.edge_url}/proxy/anthropic", api_key="sk-ant-user", max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError) as refused_too:
        await anthropic_no_key.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )
    assert "MNO proxy" in str(refused_too.value)
    wrong_provider_key = openai.AsyncOpenAI(
        base_url=f"{mesh.edge_url}/proxy/openai/v1",
        api_key="sk-wrong",
        default_headers={"X-MNO-Api-Key": mesh.admin_key, "X-MNO-Project": project},
        max_retries=0,
    )
    with pytest.raises(openai.AuthenticationError) as upstream:
        await wrong_provider_key.chat.completions.create(model="gpt-4o", messages=[])
    assert upstream.value.code == "invalid_api_key"
    assert "Incorrect API key" in upstream.value.message
    totals = await costs(mesh, mesh.admin_key, project, 1, seconds=1.0)
    assert totals["events"] == 0


async def test_a_path_the_provider_does_not_serve_passes_its_404_through(proxy_mesh: ProxyMesh) -> None:
    """Upstream errors keep their status: the provider's 404 reaches the caller, with our request id."""
    mesh = proxy_mesh
    headers = {"x-goog-api-key": "gm-user", "X-MNO-Api-Key": mesh.admin_key}
    url = f"{mesh.edge_url}/proxy/gemini/v1beta/tunedModels/x:generateContent"
    async with aiohttp.ClientSession() as http, http.post(url, json={}, headers=headers) as response:
        assert response.status == 404
        assert response.headers.get("X-Request-Id")


async def test_an_exhausted_hard_budget_refuses_before_the_provider_is_called(proxy_mesh: ProxyMesh) -> None:
    """A hard budget with room for one call: the first goes through and is admitted; the next is
    answered 429 in OpenAI's shape with Retry-After, and the provider never sees it."""
    mesh, project = proxy_mesh, f"p-{uuid.uuid4().hex[:8]}"
    key = await mesh.team_key()
    one_call = cost("openai", OPENAI_MODEL, from_openai(OPENAI_USAGE))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async with http.post(
            f"{mesh.edge_url}/api/v1/budgets",
            json={"name": "cap", "amount_usd": str(one_call), "period": "month", "hard_limit": True},
        ) as response:
            budget = await response.json()
            assert response.status == 201, budget
        client = openai_client(mesh, key, project)
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
        deadline = time.monotonic() + 10
        while True:  # the first call's cost is admitted right after its answer is sent
            async with http.get(f"{mesh.edge_url}/api/v1/budgets/{budget['id']}?forecast=false") as response:
                state = await response.json()
            if state["exhausted"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert state["exhausted"], state
        calls = len(mesh.stand_in.calls)
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
        assert len(mesh.stand_in.calls) == calls
        assert int(refused.value.response.headers["Retry-After"]) > 0
        assert "cap" in refused.value.message
        assert refused.value.code == "mno_rate_limited"


async def unrecorded(mesh: ProxyMesh, reason: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{mesh.edge_url}/metrics") as response:
        text = await response.text()
    line = f'mno_proxy_unrecorded_total{{provider="openai",reason="{reason}"}} '
    return sum(float(row.split(" ")[-1]) for row in text.splitlines() if row.startswith(line))


async def test_a_call_whose_answer_has_no_usage_is_counted_as_unrecorded(proxy_mesh: ProxyMesh) -> None:
    """A stream whose caller turned include_usage off: answered, not stored, and counted by reason
    (mno_proxy_unrecorded_total{reason="no_usage"}) instead of vanishing."""
    mesh, project = proxy_mesh, f"p-{uuid.uuid4().hex[:8]}"
    before = await unrecorded(mesh, "no_usage")
    client = openai_client(mesh, mesh.admin_key, project)
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": False},
    )
    assert len([chunk async for chunk in stream]) == 4
    assert await unrecorded(mesh, "no_usage") == before + 1
    totals = await costs(mesh, mesh.admin_key, project, 1, seconds=1.0)
    assert totals["events"] == 0
