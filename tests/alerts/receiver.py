"""A real HTTP server on 127.0.0.1 standing in for Slack or a webhook receiver: it records every
request and answers from a script (status, headers), then 200 once the script runs out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.fixtures.stack import free_port


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, *replies: int | tuple[int, dict[str, str]]) -> None:
        for reply in replies:
            self.script.append(reply if isinstance(reply, tuple) else (reply, {}))

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            Request(request.path, dict(request.headers), await request.read(), time.monotonic())
        )
        status, headers = self.script.pop(0) if self.script else (200, {})
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else f"error {status}")


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(port=free_port())
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", state.port)
    await site.start()
    try:
        yield state
    finally:
        await runner.cleanup()
