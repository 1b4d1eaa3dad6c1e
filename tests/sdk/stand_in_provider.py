"""A local stand-in for the OpenAI, Anthropic and Gemini APIs, for the real provider libraries to call.

It speaks each API's documented JSON and server-sent-event shapes (Chat Completions with and without
`stream_options.include_usage`, the Responses API, Messages with prompt-cache writes in both
lifetimes and cache reads, generateContent / streamGenerateContent with thinking and cached tokens)
with fixed usage numbers, so a test knows the exact buckets a call must be recorded with. It runs an
aiohttp server on a free loopback port in a thread of its own; every request is kept in `requests`.
`fail_next(status)` makes the next request answer with that status and the API's error body.
With `unique_ids`, every response id gets a counter suffix (one provider call, one id), for tests that
store many calls in one team: the edge bills a response id once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from services.pricing.models import Usage

# The usage each API reports for every call, and the disjoint buckets it stands for.
OPENAI_CHAT_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0},
}
OPENAI_CHAT_BUCKETS = Usage(input_tokens=86, cache_read_tokens=1920, output_tokens=108, reasoning_tokens=192)
OPENAI_RESPONSES_USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 1000},
    "output_tokens": 500,
    "output_tokens_details": {"reasoning_tokens": 300},
    "total_tokens": 1700,
}
OPENAI_RESPONSES_BUCKETS = Usage(
    input_tokens=200, cache_read_tokens=1000, output_tokens=200, reasoning_tokens=300
)
ANTHROPIC_START_USAGE = {
    "input_tokens": 50,
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 2000,
    "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600},
    "output_tokens": 1,
}
ANTHROPIC_OUTPUT_TOKENS = 300
ANTHROPIC_BUCKETS = Usage(
    input_tokens=50,
    cache_write_tokens=400,
    cache_write_1h_tokens=600,
    cache_read_tokens=2000,
    output_tokens=300,
)
# With `thinking` requested: `output_tokens` stays the inclusive total, `output_tokens_details` splits it.
ANTHROPIC_THINKING_TOKENS = 120
ANTHROPIC_THINKING_BUCKETS = Usage(
    input_tokens=50,
    cache_write_tokens=400,
    cache_write_1h_tokens=600,
    cache_read_tokens=2000,
    output_tokens=ANTHROPIC_OUTPUT_TOKENS - ANTHROPIC_THINKING_TOKENS,
    reasoning_tokens=ANTHROPIC_THINKING_TOKENS,
)
GEMINI_USAGE = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 600,
    "candidatesTokenCount": 200,
    "thoughtsTokenCount": 150,
    "totalTokenCount": 1350,
}
GEMINI_BUCKETS = Usage(input_tokens=400, cache_read_tokens=600, output_tokens=200, reasoning_tokens=150)


@dataclass
class ProviderRequest:
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any]


@dataclass
class StandInProvider:
    requests: list[ProviderRequest] = field(default_factory=list)
    unique_ids: bool = False
    _failures: list[int] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int) -> None:
        self._failures.append(status)

    def start(self) -> StandInProvider:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, name="stand-in-provider", daemon=True).start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        assert self._loop is not None
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1beta/models/{call}", self._gemini)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _received(self, request: web.Request) -> dict[str, Any]:
        body = await request.json()
        self.requests.append(ProviderRequest(request.path, dict(request.query), dict(request.headers), body))
        return body  # type: ignore[no-any-return]

    def _id(self, base: str) -> str:
        return f"{base}-{len(self.requests)}" if self.unique_ids else base

    def _failure(self) -> web.Response | None:
        if not self._failures:
            return None
        status = self._failures.pop(0)
        error = {"error": {"type": "api_error", "message": "stand-in failure", "code": status}}
        return web.json_response(error, status=status)

    # ---- OpenAI -----------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._received(request)
        if failure := self._failure():
            return failure
        model = body["model"]
        base = {
            "id": self._id("chatcmpl-standin"),
            "object": "chat.completion",
            "created": 1741570283,
            "model": model,
        }
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
            return web.json_response({**base, "choices": [choice], "usage": OPENAI_CHAT_USAGE})
        chunk = {**base, "object": "chat.completion.chunk"}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        if include_usage:
            events = [{**e, "usage": None} for e in events]
            events.append({**chunk, "choices": [], "usage": OPENAI_CHAT_USAGE})
        return await _sse(request, ((None, e) for e in events), done=True)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._received(request)
        if failure := self._failure():
            return failure
        response = {
            "id": self._id("resp_standin"),
            "object": "response",
            "created_at": 1741570283,
            "model": body["model"],
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": OPENAI_RESPONSES_USAGE,
        }
        if not body.get("stream"):
            return web.json_response(response)
        created = {**response, "status": "in_progress", "output": [], "usage": None}
        item = {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}
        at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
        part = {"type": "output_text", "text": "", "annotations": []}
        events = [
            {"type": "response.created", "response": created},
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {"type": "response.content_part.added", **at, "part": part},
            {"type": "response.output_text.delta", **at, "delta": "Hi", "logprobs": []},
            {"type": "response.completed", "response": response},
        ]
        events = [{**event, "sequence_number": n} for n, event in enumerate(events)]
        return await _sse(request, ((e["type"], e) for e in events))

    # ---- Anthropic ---------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._received(request)
        if failure := self._failure():
            return failure
        final_usage: dict[str, Any] = {"output_tokens": ANTHROPIC_OUTPUT_TOKENS}
        content: list[dict[str, Any]] = [{"type": "text", "text": "Hi"}]
        if body.get("thinking"):
            final_usage["output_tokens_details"] = {"thinking_tokens": ANTHROPIC_THINKING_TOKENS}
            content.insert(0, {"type": "thinking", "thinking": "Greet.", "signature": "sig"})
        message = {
            "id": self._id("msg_standin"),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {**ANTHROPIC_START_USAGE, **final_usage},
        }
        if not body.get("stream"):
            return web.json_response(message)
        start = {**message, "content": [], "stop_reason": None, "usage": ANTHROPIC_START_USAGE}
        events = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": final_usage,
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return await _sse(request, iter(events))

    # ---- Gemini ------------------------------------------------------------------------------

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        await self._received(request)
        if failure := self._failure():
            return failure
        model, _, method = request.match_info["call"].partition(":")
        content = {"role": "model", "parts": [{"text": "Hi"}]}
        response = {
            "candidates": [{"content": content, "finishReason": "STOP", "index": 0}],
            "usageMetadata": GEMINI_USAGE,
            "modelVersion": model,
            "responseId": self._id("gem-standin"),
        }
        if method == "generateContent":
            return web.json_response(response)
        first = {
            "candidates": [{"content": content, "index": 0}],
            "usageMetadata": {
                "promptTokenCount": 1000,
                "cachedContentTokenCount": 600,
                "totalTokenCount": 1000,
            },
            "modelVersion": model,
            "responseId": response["responseId"],
        }
        return await _sse(request, iter([(None, first), (None, response)]))


async def _sse(request: web.Request, events: Any, *, done: bool = False) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    for name, data in events:
        prefix = f"event: {name}\n" if name else ""
        await response.write(f"{prefix}data: {json.dumps(data)}\n\n".encode())
    if done:
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response
