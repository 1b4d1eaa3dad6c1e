"""A recording, fault-injecting reverse proxy in front of the REAL edge, for the SDK's delivery tests.

Every answer about the events themselves (validation, per-event rejections, duplicates, auth, body
and plan limits) comes from the running SuperAgent: there is one wire contract, tested from both
sides. The proxy adds only what a network or a load balancer does and a test must control: the next
answers fail with `script(...)` (a status with the edge's own typed error body, optionally
`Retry-After`, `DROP` to close the connection without answering, or `UNCONFIRMED` to store the
batch at the edge yet answer `outcome_unknown`), answers wait while `hold()` is
active, a path prefix (as behind a reverse proxy under /mno/), TLS termination, and a body limit of
its own answered the way nginx's `client_max_body_size` is (413 with an HTML page, before the edge).
Every request is recorded in `requests` (method, path, headers, client port, events sent, status,
the edge's answer). Other routes (the prompt and experiment calls, GET included) are forwarded the
same way, so a test counts the SDK's requests and sees the edge's own answers (304s too).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from services.gateway.errors import CODE_OF_STATUS, ErrorResponse
from services.ingest.intake import OUTCOME_UNKNOWN_MESSAGE
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.telemetry import TokenEventIn

DROP = -1  # a scripted "answer" that closes the connection without a response
# Forwarded to the edge (so the events are stored), then answered as the edge does when the event
# stream did not confirm a publish in time: 504 `outcome_unknown` (a NATS outage's lost acks).
UNCONFIRMED = -2
PATH = "/api/v1/token-events"
_SCRIPTED_CODES = {
    **CODE_OF_STATUS,
    402: ErrorCode.PAYMENT_REQUIRED,
    500: ErrorCode.INTERNAL,
    502: ErrorCode.UNAVAILABLE,
    503: ErrorCode.UNAVAILABLE,
    504: ErrorCode.TIMEOUT,
}
_NGINX_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Received:
    headers: dict[str, str]
    client_port: int
    at: float
    status: int = 0
    method: str = "POST"
    path: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    answer: Any = None

    @property
    def ids(self) -> list[str]:
        return [e.get("id", "") for e in self.events]


@dataclass
class Scripted:
    status: int
    retry_after: str | None = None


class EdgeProxy:
    """Forwards `<prefix>/api/v1/token-events` to the edge at `upstream`."""

    def __init__(
        self,
        upstream: str,
        api_key: str,
        *,
        prefix: str = "",
        tls: ssl.SSLContext | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.api_key = api_key
        self.prefix = prefix.rstrip("/")
        self.max_body_bytes = max_body_bytes
        self.stored: dict[str, TokenEventIn] = {}  # what the edge accepted, as the SDK sent it
        self.requests: list[Received] = []
        self._script: deque[Scripted] = deque()
        self._gate = threading.Event()
        self._gate.set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}{self.prefix}"

    def start(self) -> EdgeProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._gate.set()
        self._server.shutdown()
        self._server.server_close()

    def script(self, *answers: int | tuple[int, str]) -> None:
        """The next requests get these answers, in order, before the edge answers again."""
        with self._lock:
            for answer in answers:
                status, retry_after = answer if isinstance(answer, tuple) else (answer, None)
                self._script.append(Scripted(status, retry_after))

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Requests wait for their answer until the block ends."""
        self._gate.clear()
        try:
            yield
        finally:
            self._gate.set()

    def stored_ids(self) -> set[str]:
        with self._lock:
            return set(self.stored)

    def received(self, method: str, path_prefix: str) -> list[Received]:
        """The requests of `method` to a path starting with `path_prefix` (query string included)."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def sent_ids(self) -> list[list[str]]:
        with self._lock:
            return [r.ids for r in self.requests]

    # ---- request handling (server threads) ---------------------------------------------------

    def _next_scripted(self) -> Scripted | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def forward(
        self, path: str, headers: dict[str, str], body: bytes, method: str = "POST"
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname or "", self.upstream.port, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body if body or method != "GET" else None, headers=sent)
            response = connection.getresponse()
            answer = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return response.status, kept, answer
        finally:
            connection.close()

    def remember(self, received: Received, answer: bytes) -> None:
        try:
            received.answer = json.loads(answer)
        except ValueError:
            return
        if received.status != 200 or not isinstance(received.answer, dict):
            return
        by_id = {event.get("id"): event for event in received.events}
        with self._lock:
            for event_id in received.answer.get("ids", []):
                if event_id in by_id:
                    self.stored[event_id] = TokenEventIn.model_validate(by_id[event_id])


def scripted_error(status: int, message: str) -> bytes:
    """The edge's own typed error body for a status."""
    code = _SCRIPTED_CODES.get(status, ErrorCode.INTERNAL)
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=[]), correlation_id="scripted")
    return body.model_dump_json().encode()


def _outcome_unknown() -> bytes:
    body = ErrorBody(code=ErrorCode.OUTCOME_UNKNOWN, message=OUTCOME_UNKNOWN_MESSAGE, details=[])
    return ErrorResponse(error=body, correlation_id="scripted").model_dump_json().encode()


def _handler(proxy: EdgeProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real edge

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received = Received(
                headers={k.lower(): v for k, v in self.headers.items()},
                client_port=self.client_address[1],
                at=time.monotonic(),
                method=method,
                path=self.path[len(proxy.prefix) :],
            )
            try:
                data = json.loads(body)
                events = data.get("events") if isinstance(data, dict) else None
                received.events = [e if isinstance(e, dict) else {} for e in events or []]
            except ValueError:
                pass
            with proxy._lock:
                proxy.requests.append(received)
            proxy._gate.wait(30)
            headers: dict[str, str] = {}
            scripted = proxy._next_scripted()
            if scripted is not None and scripted.status == DROP:
                received.status = DROP
                self.close_connection = True
                return
            if scripted is not None and scripted.status == UNCONFIRMED:
                upstream_path = self.path[len(proxy.prefix) :]
                proxy.forward(upstream_path, dict(self.headers.items()), body, method)
                status, payload = 504, _outcome_unknown()
                headers = {"Content-Type": "application/json"}
            elif scripted is not None:
                status, payload = scripted.status, scripted_error(scripted.status, "scripted failure")
                headers = {"Content-Type": "application/json"}
                if scripted.retry_after:
                    headers["Retry-After"] = scripted.retry_after
            elif proxy.max_body_bytes is not None and len(body) > proxy.max_body_bytes:
                status, payload = 413, _NGINX_413
                headers = {"Content-Type": "text/html"}
            elif not self.path.startswith(proxy.prefix + "/"):
                status, payload = 404, scripted_error(404, "not behind this proxy's prefix")
                headers = {"Content-Type": "application/json"}
            else:
                upstream_path = self.path[len(proxy.prefix) :]
                status, headers, payload = proxy.forward(
                    upstream_path, dict(self.headers.items()), body, method
                )
            received.status = status
            proxy.remember(received, payload)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if status != 304:  # a 304 has no body
                self.wfile.write(payload)

    return Handler
