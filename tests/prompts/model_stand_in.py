"""A local stand-in model API answering OpenAI chat completions (with usage), for evaluation runs.

It serves in a thread of its own (any test's loop can reach it), records every call (headers and
JSON body) so tests check what was sent, and answers from the last message:
- containing `FAIL`: a 500 in OpenAI's error shape;
- containing `JSON`: `{"answer": 42}`;
- otherwise `Echo: <the message>`.
The usage is fixed, so the price of each call can be checked exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fixtures.stack import free_port
from tests.proxy.stand_in import start as serve_in_thread

API_KEY = "sk-eval-test"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
# The dated snapshot a provider answers for an alias (what the call is priced as).
SNAPSHOT_SUFFIX = "-2024-07-18"


@dataclass
class Received:
    headers: dict[str, str]
    body: Any


@dataclass
class ModelStandIn:
    port: int = field(default_factory=free_port)
    calls: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        return app

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        self.calls.append(Received(dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response(
                {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}, status=401
            )
        last = body["messages"][-1]["content"]
        if "FAIL" in last:
            return web.json_response({"error": {"message": "the stand-in failed on purpose"}}, status=500)
        content = '{"answer": 42}' if "JSON" in last else f"Echo: {last}"
        return web.json_response(
            {
                "id": "chatcmpl-eval",
                "object": "chat.completion",
                "created": 1700000000,
                "model": body["model"] + SNAPSHOT_SUFFIX,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": USAGE,
            }
        )

    def calls_with(self, text: str) -> list[Received]:
        return [c for c in self.calls if any(text in m["content"] for m in c.body["messages"])]


def start(stand_in: ModelStandIn) -> Any:
    """Serve in a thread until the generator is closed (the proxy stand-in's server loop)."""
    return serve_in_thread(stand_in)  # type: ignore[arg-type]
