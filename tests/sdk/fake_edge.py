"""A stand-in for the edge's `POST /api/v1/token-events`: a real HTTP/1.1 server on a loopback port.

It answers the way the real edge does: 401 without the right `Bearer` key, 413 above its body
limit, 422 for a malformed body, and 200 with an `IngestResult` otherwise, validating each event
with `TokenEventIn` and reporting invalid ones per index while accepting the rest. Event ids are
deduplicated like the server does (a resent id is answered as a duplicate, not stored twice).
Business rules the SDK cannot check locally are stand-ins here: events older than `max_age` are
rejected one by one, and once `quota` events are stored every request answers 402.

Tests make the next answers fail with `script(...)` (a status, optionally `Retry-After`, or
`DROP` to close the connection without answering) and can hold answers with `hold`.
Every request is recorded in `requests` (headers, client port, parsed events).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from shared.messages.telemetry import MAX_EVENTS_PER_BATCH, EventRejection, IngestResult, TokenEventIn

API_KEY = "mno_k1test_s3cr3t"
DROP = -1  # a scripted "answer" that closes the connection without a response
PATH = "/api/v1/token-events"

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    402: "payment_required",
    403: "forbidden",
    413: "payload_too_large",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
    504: "timeout",
}


@dataclass
class Received:
    headers: dict[str, str]
    client_port: int
    at: float
    status: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [e.get("id", "") for e in self.events]


@dataclass
class Scripted:
    status: int
    retry_after: str | None = None


class FakeEdge:
    def __init__(
        self, *, prefix: str = "", max_body_bytes: int = 1 << 20, tls: ssl.SSLContext | None = None
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.max_body_bytes = max_body_bytes
        self.max_age = timedelta(days=30)
        self.quota: int | None = None
        self.stored: dict[str, TokenEventIn] = {}
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

    def start(self) -> FakeEdge:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._gate.set()
        self._server.shutdown()
        self._server.server_close()

    def script(self, *answers: int | tuple[int, str]) -> None:
        """The next requests get these answers, in order, before normal service resumes."""
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

    def sent_ids(self) -> list[list[str]]:
        with self._lock:
            return [r.ids for r in self.requests]

    # ---- request handling (server threads) ---------------------------------------------------

    def _next_scripted(self) -> Scripted | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def answer(self, received: Received, body: bytes) -> tuple[int, dict[str, str], bytes | None]:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        events = data.get("events") if isinstance(data, dict) else None
        if isinstance(events, list):
            received.events = [e if isinstance(e, dict) else {} for e in events]
        scripted = self._next_scripted()
        if scripted is not None:
            if scripted.status == DROP:
                return DROP, {}, None
            headers = {"Retry-After": scripted.retry_after} if scripted.retry_after else {}
            return scripted.status, headers, _error(scripted.status, "scripted failure")
        if len(body) > self.max_body_bytes:
            return 413, {}, _error(413, f"body larger than {self.max_body_bytes} bytes")
        if data is None:
            return 400, {}, _error(400, "body is not JSON")
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS_PER_BATCH or len(data) != 1:
            return 422, {}, _error(422, "expected {'events': [1..1000 events]}")
        with self._lock:
            if self.quota is not None and len(self.stored) >= self.quota:
                return 402, {}, _error(402, "monthly token-event limit of your plan reached")
            ids: list[str] = []
            duplicates: list[str] = []
            rejections: list[EventRejection] = []
            for index, raw in enumerate(events):
                try:
                    event = TokenEventIn.model_validate(raw)
                except ValidationError as exc:
                    errors = exc.errors(include_url=False, include_context=False, include_input=False)
                    raw_id = raw.get("id") if isinstance(raw, dict) else None
                    rejections.append(EventRejection(index=index, id=raw_id, errors=list(errors)))
                    continue
                too_old = event.timestamp is not None and event.timestamp < datetime.now(UTC) - self.max_age
                if too_old:
                    rejections.append(
                        EventRejection(
                            index=index,
                            id=event.id,
                            errors=[{"loc": ["timestamp"], "msg": "older than 30 days", "type": "too_old"}],
                        )
                    )
                    continue
                assert event.id is not None  # the SDK always sends its own ids
                if event.id in self.stored:
                    duplicates.append(event.id)
                    continue
                self.stored[event.id] = event
                ids.append(event.id)
        result = IngestResult(
            accepted=len(ids),
            rejected=len(rejections),
            ids=ids,
            errors=rejections,
            duplicates=len(duplicates),
            duplicate_ids=duplicates,
        )
        return 200, {}, result.model_dump_json().encode()


def _error(status: int, message: str) -> bytes:
    code = _CODES.get(status, "internal")
    return json.dumps(
        {"error": {"code": code, "message": message, "details": []}, "correlation_id": "corr-1"}
    ).encode()


def _handler(edge: FakeEdge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real edge

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received = Received(
                headers={k.lower(): v for k, v in self.headers.items()},
                client_port=self.client_address[1],
                at=time.monotonic(),
            )
            with edge._lock:
                edge.requests.append(received)
            edge._gate.wait(30)
            headers: dict[str, str] = {}
            payload: bytes | None
            if self.path != edge.prefix + PATH:
                status, payload = 404, _error(404, "no such route")
            elif self.headers.get("Authorization") != f"Bearer {API_KEY}":
                status, payload = 401, _error(401, "unknown API key")
            else:
                status, headers, payload = edge.answer(received, body)
            received.status = status
            if status == DROP or payload is None:
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Request-Id", self.headers.get("X-Request-Id", "none"))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler
