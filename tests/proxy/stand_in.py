"""A local stand-in provider speaking OpenAI's, Anthropic's and Gemini's documented shapes.

It runs in a thread of its own (its own event loop), so every test's loop can call it, and records
each call it gets (path, query, headers, JSON body) so tests can check what the proxy sent.
Usage numbers are fixed per API so the stored tokens and costs can be checked exactly.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fixtures.stack import free_port

# OpenAI Chat Completions: 1,200 prompt tokens of which 200 cached; 300 completion of which 100 reasoning.
OPENAI_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 200},
    "completion_tokens_details": {"reasoning_tokens": 100},
}
# Anthropic Messages: input excludes the cache reads and writes, reported apart.
ANTHROPIC_USAGE = {
    "input_tokens": 100,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 500,
    "output_tokens": 300,
}
# Gemini: promptTokenCount includes cachedContentTokenCount; thoughts apart from candidates.
GEMINI_USAGE = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 400,
    "candidatesTokenCount": 200,
    "thoughtsTokenCount": 50,
    "totalTokenCount": 1250,
}
OPENAI_MODEL = "gpt-4o-2024-08-06"
ANTHROPIC_MODEL = "claude-sonnet-4-20250514"
GEMINI_MODEL = "gemini-2.5-flash"


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    port: int = field(default_factory=free_port)
    calls: list[Received] = field(default_factory=list)
    # Seconds each streamed event waits before it is sent (to see chunks arrive one by one).
    event_gap: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/responses", self.responses)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1beta/models/{model_method}", self.gemini)
        app.router.add_get("/v1/models", self.models)
        return app

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.calls.append(
            Received(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        return body

    async def _sse(self, request: web.Request, events: list[tuple[str | None, Any]]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Stand-In": "1"})
        await response.prepare(request)
        for name, data in events:
            text = data if isinstance(data, str) else json.dumps(data)
            block = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
            await response.write(block.encode())
            if self.event_gap:
                await asyncio.sleep(self.event_gap)
        await response.write_eof()
        return response

    async def models(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return web.json_response({"object": "list", "data": [{"id": OPENAI_MODEL, "object": "model"}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if request.headers.get("Authorization") != "Bearer sk-user-openai":
            error = {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return web.json_response({"error": error}, status=401)
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "chatcmpl-standin-1",
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": OPENAI_MODEL,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "Hello."},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": OPENAI_USAGE,
                },
                headers={"x-request-id": "req_standin", "x-ratelimit-remaining-requests": "99"},
            )
        with_usage = (body.get("stream_options") or {}).get("include_usage") is True

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": "chatcmpl-standin-2",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": OPENAI_MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if with_usage:
                data["usage"] = None
            return data

        events: list[tuple[str | None, Any]] = [
            (None, chunk({"role": "assistant", "content": ""})),
            (None, chunk({"content": "Hel"})),
            (None, chunk({"content": "lo."})),
            (None, chunk({}, "stop")),
        ]
        if with_usage:
            final = {
                "id": "chatcmpl-standin-2",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": OPENAI_MODEL,
                "choices": [],
                "usage": OPENAI_USAGE,
            }
            events.append((None, final))
        events.append((None, "[DONE]"))
        return await self._sse(request, events)

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        usage = {
            "input_tokens": 1200,
            "input_tokens_details": {"cached_tokens": 200},
            "output_tokens": 300,
            "output_tokens_details": {"reasoning_tokens": 100},
            "total_tokens": 1500,
        }
        response = {
            "id": "resp_standin",
            "object": "response",
            "model": OPENAI_MODEL,
            "usage": usage,
            "output": [],
        }
        if not body.get("stream"):
            return web.json_response(response)
        return await self._sse(
            request,
            [
                ("response.created", {"type": "response.created", "response": {**response, "usage": None}}),
                ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hi"}),
                ("response.completed", {"type": "response.completed", "response": response}),
            ],
        )

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        # Anthropic takes its key as x-api-key; its SDK 2.x sends it as a bearer token.
        presented = {request.headers.get("x-api-key"), request.headers.get("Authorization")}
        if not presented & {"sk-ant-user", "Bearer sk-ant-user"}:
            return web.json_response(
                {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
                status=401,
            )
        message = {
            "id": "msg_standin",
            "type": "message",
            "role": "assistant",
            "model": ANTHROPIC_MODEL,
            "content": [{"type": "text", "text": "Hello."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": ANTHROPIC_USAGE,
        }
        if not body.get("stream"):
            return web.json_response(message, headers={"request-id": "req_ant_standin"})
        start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
        start = {**message, "content": [], "stop_reason": None, "usage": start_usage}
        return await self._sse(
            request,
            [
                ("message_start", {"type": "message_start", "message": start}),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                ("ping", {"type": "ping"}),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "Hello."},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": ANTHROPIC_USAGE["output_tokens"]},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ],
        )

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        model, _, method = request.match_info["model_method"].partition(":")
        if request.headers.get("x-goog-api-key") != "gm-user":
            error = {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}
            return web.json_response({"error": error}, status=400)

        def chunk(text: str, usage: dict[str, Any]) -> dict[str, Any]:
            return {
                "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": "gem-standin",
            }

        if method == "generateContent":
            return web.json_response(chunk("Hello.", GEMINI_USAGE))
        partial = {"promptTokenCount": 1000, "cachedContentTokenCount": 400, "candidatesTokenCount": 80}
        chunks = [chunk("Hel", partial), chunk("lo.", GEMINI_USAGE)]
        if request.query.get("alt") == "sse":
            return await self._sse(request, [(None, c) for c in chunks])
        return web.json_response(chunks)


@dataclass
class Running:
    stand_in: StandIn
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread


def start(stand_in: StandIn) -> Iterator[StandIn]:
    """Serve `stand_in` in a thread until the generator is closed."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(stand_in.app(), access_log=None)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", stand_in.port).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="stand-in-provider", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield stand_in
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
