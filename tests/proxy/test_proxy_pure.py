"""The proxy's pure parts, without HTTP: SSE parsing, usage from each provider's answers, request
rewriting, error shapes and the budget pre-check's decision."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from multidict import CIMultiDict

from services.pricing.models import Usage
from services.proxy.budget_precheck import CallScope, exhausted_budget
from services.proxy.providers import (
    ask_for_stream_usage,
    client_headers,
    error_document,
    requested_model,
    upstream_headers,
)
from services.proxy.record import CallFacts, token_event
from services.proxy.sse import SseParser
from services.proxy.usage import Observed, Provider, StreamUsage, from_body, is_openai_usage_chunk
from shared.messages.budgets import BudgetInfo, Period, ScopeKind, UnpricedPolicy
from shared.messages.envelope import ErrorBody, ErrorCode


def sse(*events: tuple[str | None, Any]) -> bytes:
    out = b""
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        out += ((f"event: {name}\n" if name else "") + f"data: {text}\n\n").encode()
    return out


def fold(provider: Provider, stream: bytes, piece: int = 7) -> Observed:
    """The stream fed in small pieces (events split across chunks, as TCP delivers them)."""
    parser, usage = SseParser(), StreamUsage(provider)
    for start in range(0, len(stream), piece):
        usage.feed(parser.feed(stream[start : start + piece]))
    usage.feed(parser.close())
    return usage.result()


def test_sse_events_split_across_chunks_and_crlf_lines_are_parsed_whole() -> None:
    """Events are yielded once complete, with CRLF or LF endings, multi-line data joined, comments kept."""
    parser = SseParser()
    assert parser.feed(b"event: a\r\ndata: 1\r") == []
    events = parser.feed(b"\ndata: 2\r\n\r\n: ping\n\ndata: tail")
    assert [(e.event, e.data) for e in events] == [("a", "1\n2"), (None, "")]
    assert events[1].raw == b": ping\n\n"
    assert [(e.event, e.data) for e in parser.close()] == [(None, "tail")]


OPENAI_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "prompt_tokens_details": {"cached_tokens": 200},
    "completion_tokens_details": {"reasoning_tokens": 100},
}
OPENAI_BUCKETS = Usage(input_tokens=1000, cache_read_tokens=200, output_tokens=200, reasoning_tokens=100)


def test_openai_usage_from_bodies_chat_streams_and_responses_streams() -> None:
    """Chat JSON, a chat stream's usage chunk, and the Responses stream's response.completed agree."""
    body = json.dumps({"id": "c1", "model": "gpt-4o", "usage": OPENAI_USAGE}).encode()
    assert from_body(Provider.OPENAI, body) == Observed(OPENAI_BUCKETS, "gpt-4o", "c1")
    chunk = {"id": "c2", "model": "gpt-4o", "choices": [{"delta": {"content": "x"}}], "usage": None}
    last = {"id": "c2", "model": "gpt-4o", "choices": [], "usage": OPENAI_USAGE}
    stream = sse((None, chunk), (None, last), (None, "[DONE]"))
    assert fold(Provider.OPENAI, stream) == Observed(OPENAI_BUCKETS, "gpt-4o", "c2")
    responses_usage = {
        "input_tokens": 1200,
        "input_tokens_details": {"cached_tokens": 200},
        "output_tokens": 300,
        "output_tokens_details": {"reasoning_tokens": 100},
    }
    created = {"type": "response.created", "response": {"id": "r1", "model": "gpt-4o", "usage": None}}
    done = {
        "type": "response.completed",
        "response": {"id": "r1", "model": "gpt-4o", "usage": responses_usage},
    }
    stream = sse(("response.created", created), ("response.completed", done))
    assert fold(Provider.OPENAI, stream) == Observed(OPENAI_BUCKETS, "gpt-4o", "r1")


def test_a_stream_without_usage_observes_none() -> None:
    """An OpenAI stream whose caller turned include_usage off says nothing of usage: nothing invented."""
    chunk = {"id": "c", "model": "gpt-4o", "choices": [{"delta": {"content": "x"}}]}
    assert fold(Provider.OPENAI, sse((None, chunk), (None, "[DONE]"))).usage is None


def test_anthropic_stream_usage_is_message_start_input_with_the_last_delta_output() -> None:
    """message_start's input, cache reads and writes (1-hour split kept) with message_delta's output."""
    usage = {
        "input_tokens": 100,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 500,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 300},
        "output_tokens": 1,
    }
    start = {"type": "message_start", "message": {"id": "m1", "model": "claude-x", "usage": usage}}
    delta = {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 300, "input_tokens": None}}
    observed = fold(
        Provider.ANTHROPIC,
        sse(("message_start", start), ("ping", {"type": "ping"}), ("message_delta", delta)),
    )
    expected = Usage(
        input_tokens=100,
        cache_read_tokens=2000,
        cache_write_tokens=200,
        cache_write_1h_tokens=300,
        output_tokens=300,
    )
    assert observed == Observed(expected, "claude-x", "m1")
    body = json.dumps({"id": "m2", "model": "claude-x", "usage": {**usage, "output_tokens": 300}}).encode()
    assert from_body(Provider.ANTHROPIC, body).usage == expected


def test_gemini_usage_from_json_sse_and_json_array_streams_takes_the_last_metadata() -> None:
    """Gemini's cumulative usageMetadata: the last chunk counts, in SSE and in a JSON array alike."""
    partial = {"promptTokenCount": 1000, "cachedContentTokenCount": 400, "candidatesTokenCount": 80}
    full = {**partial, "candidatesTokenCount": 200, "thoughtsTokenCount": 50}
    chunks = [
        {"usageMetadata": partial, "modelVersion": "gemini-2.5-flash", "responseId": "g"},
        {"usageMetadata": full, "modelVersion": "gemini-2.5-flash", "responseId": "g"},
    ]
    expected = Observed(
        Usage(input_tokens=600, cache_read_tokens=400, output_tokens=200, reasoning_tokens=50),
        "gemini-2.5-flash",
        "g",
    )
    assert fold(Provider.GEMINI, sse(*((None, c) for c in chunks))) == expected
    assert from_body(Provider.GEMINI, json.dumps(chunks).encode()) == expected
    assert from_body(Provider.GEMINI, json.dumps(chunks[1]).encode()) == expected


def test_unreadable_usage_is_reported_as_a_problem_not_a_crash() -> None:
    """Cached tokens above the prompt count, or a body that is not JSON: no usage, and why."""
    bad = json.dumps(
        {"model": "m", "usage": {"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": 5}}}
    )
    observed = from_body(Provider.OPENAI, bad.encode())
    assert observed.usage is None
    assert observed.problem is not None
    assert from_body(Provider.ANTHROPIC, b"<html>") == Observed()


@pytest.mark.parametrize(
    ("body", "changed", "options"),
    [
        ({"model": "m", "stream": True}, True, {"include_usage": True}),
        ({"model": "m", "stream": True, "stream_options": {"x": 1}}, True, {"x": 1, "include_usage": True}),
        (
            {"model": "m", "stream": True, "stream_options": {"include_usage": False}},
            False,
            {"include_usage": False},
        ),
        (
            {"model": "m", "stream": True, "stream_options": {"include_usage": True}},
            False,
            {"include_usage": True},
        ),
        ({"model": "m"}, False, None),
    ],
)
def test_openai_streams_are_asked_for_usage_only_when_the_caller_did_not_decide(
    body: dict[str, Any], changed: bool, options: dict[str, Any] | None
) -> None:
    """include_usage added to chat streams without it; everything else of the body kept as it was."""
    sent, was_changed = ask_for_stream_usage(Provider.OPENAI, "chat/completions", json.dumps(body).encode())
    assert was_changed is changed
    document = json.loads(sent)
    assert document.get("stream_options") == options
    assert {k: v for k, v in document.items() if k != "stream_options"} == {
        k: v for k, v in body.items() if k != "stream_options"
    }
    raw = json.dumps(body).encode()
    assert ask_for_stream_usage(Provider.ANTHROPIC, "messages", raw) == (raw, False)
    assert ask_for_stream_usage(Provider.OPENAI, "responses", raw) == (raw, False)


def test_only_the_extra_usage_chunk_is_recognised_as_such() -> None:
    """The usage-only chunk (no choices) is the one left out; content chunks carrying usage: null are not."""
    parser = SseParser()
    usage_chunk, content, done = parser.feed(
        sse(
            (None, {"object": "chat.completion.chunk", "choices": [], "usage": OPENAI_USAGE}),
            (None, {"object": "chat.completion.chunk", "choices": [{"delta": {}}], "usage": None}),
            (None, "[DONE]"),
        )
    )
    assert is_openai_usage_chunk(usage_chunk)
    assert not is_openai_usage_chunk(content)
    assert not is_openai_usage_chunk(done)


def test_provider_keys_pass_through_and_our_headers_and_cookies_do_not() -> None:
    """Authorization, x-api-key and x-goog-api-key go upstream; X-MNO-*, cookies, hop-by-hop do not."""
    incoming = CIMultiDict(
        {
            "Authorization": "Bearer sk-user",
            "x-api-key": "sk-ant",
            "x-goog-api-key": "gm",
            "X-MNO-Api-Key": "mno_x_y",
            "X-MNO-Project": "p",
            "Cookie": "mno_session=s",
            "Connection": "keep-alive",
            "Host": "edge",
            "Content-Length": "10",
            "Accept-Encoding": "gzip",
            "OpenAI-Beta": "assistants=v2",
        }
    )
    sent = upstream_headers(incoming)
    assert dict(sent) == {
        "Authorization": "Bearer sk-user",
        "x-api-key": "sk-ant",
        "x-goog-api-key": "gm",
        "OpenAI-Beta": "assistants=v2",
        "Accept-Encoding": "identity",
    }
    back = client_headers(CIMultiDict({"x-request-id": "r", "Content-Length": "5", "Set-Cookie": "a=b"}))
    assert dict(back) == {"x-request-id": "r"}


def test_models_requested_come_from_the_body_or_gemini_path() -> None:
    """The budget pre-check scopes by the requested model: OpenAI/Anthropic body, Gemini path."""
    assert requested_model(Provider.OPENAI, "chat/completions", b'{"model": "gpt-4o"}') == "gpt-4o"
    assert (
        requested_model(Provider.GEMINI, "models/gemini-2.5-flash:generateContent", b"") == "gemini-2.5-flash"
    )
    assert requested_model(Provider.ANTHROPIC, "messages", b"not json") is None


def test_our_errors_take_each_providers_shape() -> None:
    """Errors as each SDK reads them: OpenAI's, Anthropic's and Google's error objects."""
    error = ErrorBody(code=ErrorCode.RATE_LIMITED, message="budget 'cap' is spent")
    openai_shape = error_document(Provider.OPENAI, error, 429)
    assert openai_shape["error"]["type"] == "rate_limit_error"
    assert openai_shape["error"]["code"] == "mno_rate_limited"
    assert openai_shape["error"]["message"].startswith("MNO proxy: ")
    anthropic_shape = error_document(Provider.ANTHROPIC, error, 429)
    assert anthropic_shape["type"] == "error"
    assert anthropic_shape["error"]["type"] == "rate_limit_error"
    google_shape = error_document(Provider.GEMINI, error, 429)
    assert google_shape["error"]["code"] == 429
    assert google_shape["error"]["status"] == "RESOURCE_EXHAUSTED"


def budget(
    scope: ScopeKind, value: str, *, exhausted: bool = True, hard: bool = True, days: int = 3
) -> BudgetInfo:
    now = datetime.now(UTC)
    return BudgetInfo(
        id=f"b-{scope.value}-{days}",
        name=f"{scope.value} cap",
        scope=scope,
        scope_value=value,
        amount_usd=Decimal(1),
        period=Period.MONTH,
        rolling_hours=None,
        thresholds=[],
        hard_limit=hard,
        unpriced=UnpricedPolicy.REFUSE,
        created_at=now,
        period_start=now - timedelta(days=1),
        period_end=now + timedelta(days=days),
        spent_usd=Decimal(1),
        remaining_usd=Decimal(0),
        percent_used=Decimal(100),
        unpriced_events=0,
        exhausted=exhausted,
    )


def test_the_pre_check_refuses_only_for_a_spent_hard_budget_that_covers_the_call() -> None:
    """Scope by project, user, model and key; soft or unspent budgets never refuse; the latest end wins."""
    now = datetime.now(UTC)
    call = CallScope(model="gpt-4o", project="search", user="ana", api_key_id="k1")
    assert exhausted_budget([budget(ScopeKind.PROJECT, "other")], call, now) is None
    assert exhausted_budget([budget(ScopeKind.TEAM, "", hard=False)], call, now) is None
    assert exhausted_budget([budget(ScopeKind.TEAM, "", exhausted=False)], call, now) is None
    for scope, value in (
        (ScopeKind.PROJECT, "search"),
        (ScopeKind.USER, "ana"),
        (ScopeKind.MODEL, "gpt-4o"),
        (ScopeKind.API_KEY, "k1"),
        (ScopeKind.TEAM, ""),
    ):
        refused = exhausted_budget([budget(scope, value)], call, now)
        assert refused is not None, scope
        assert 3 * 86400 - 5 <= refused.retry_after_seconds <= 3 * 86400 + 1
    both = [budget(ScopeKind.TEAM, "", days=2), budget(ScopeKind.MODEL, "gpt-4o", days=9)]
    chosen = exhausted_budget(both, call, now)
    assert chosen is not None
    assert chosen.name == "model cap"


def test_the_recorded_event_is_the_answers_usage_model_and_response_id() -> None:
    """Disjoint buckets, the answer's model over the requested one, the response id as request_id;
    no event when the answer had no usage."""
    facts = CallFacts(Provider.OPENAI, "gpt-4o", datetime(2026, 1, 1, tzinfo=UTC), 12.5, "search", None)
    event = token_event(facts, Observed(OPENAI_BUCKETS, "gpt-4o-2024-08-06", "chatcmpl-1"))
    assert event is not None
    assert event["model"] == "gpt-4o-2024-08-06"
    assert event["request_id"] == "chatcmpl-1"
    assert (event["input_tokens"], event["cache_read_tokens"], event["reasoning_tokens"]) == (1000, 200, 100)
    assert event["project"] == "search"
    assert "user" not in event
    assert token_event(facts, Observed(None, "gpt-4o", "x")) is None
