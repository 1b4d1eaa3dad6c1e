"""HTTP to the edge over one kept-alive connection (stdlib only): POSTs of encoded batches to the
ingest endpoint (`post`), and the prompt and experiment calls (`request`).

One transport is one connection, deliberately not thread-safe: the sender thread has its own, and
`ConnectionPool` lends one to each caller of the prompt and experiment calls.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from mno_sdk.protocol import INGEST_PATH

REQUEST_ID_HEADER = "X-Request-Id"


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    retry_after: str | None = None
    request_id: str | None = None
    etag: str | None = None


class Transport(Protocol):
    def post(self, body: bytes, request_id: str) -> HttpAnswer:
        """Send one batch; raise OSError / http.client.HTTPException when no answer came."""
        ...

    def close(self) -> None: ...


class HttpTransport:
    """POSTs to `<base_url>/api/v1/token-events`; `base_url` may carry a path prefix (a reverse proxy)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        user_agent: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"base_url must not carry a query or fragment, got {base_url!r}")
        if not api_key or any(c in api_key for c in "\r\n"):
            raise ValueError("api_key must be a non-empty single-line string")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._path = self._prefix + INGEST_PATH
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        self._conn: http.client.HTTPConnection | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self._https else "http"
        port = f":{self._port}" if self._port else ""
        return f"{scheme}://{self._host}{port}{self._path}"

    def post(self, body: bytes, request_id: str) -> HttpAnswer:
        return self._send("POST", self._path, body, {REQUEST_ID_HEADER: request_id})

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpAnswer:
        """One call of `path` (below the base URL's path, with its query string)."""
        return self._send(method, self._prefix + path, body, headers or {})

    def _send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> HttpAnswer:
        reused = self._conn is not None
        try:
            try:
                return self._send_once(method, path, body, headers)
            except (ConnectionError, http.client.BadStatusLine):
                if not reused:
                    raise
                # The server closed an idle kept-alive connection under us: that says nothing about
                # its health, so try once more at once on a fresh connection instead of backing off.
                self.close()
                return self._send_once(method, path, body, headers)
        except BaseException:
            self.close()
            raise

    def _send_once(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> HttpAnswer:
        conn = self._connection()
        conn.request(method, path, body=body, headers={**self._headers, **headers})
        response = conn.getresponse()
        data = response.read()
        if response.will_close:
            self.close()
        return HttpAnswer(
            status=response.status,
            body=data,
            retry_after=response.getheader("Retry-After"),
            request_id=response.getheader(REQUEST_ID_HEADER),
            etag=response.getheader("ETag"),
        )

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                context = self._ssl_context or ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ConnectionPool:
    """Kept-alive transports lent to one caller at a time: any thread may call `request`.

    A forked child starts with no connection (the parent's sockets stay the parent's).
    """

    def __init__(self, factory: Callable[[], HttpTransport], max_idle: int = 8) -> None:
        self._factory = factory
        self._max_idle = max_idle
        self._idle: list[HttpTransport] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpAnswer:
        """Raises OSError / http.client.HTTPException when no answer came."""
        transport = self._take()
        answer = transport.request(method, path, body, headers)  # closes itself when it raises
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self._max_idle:
                self._idle.append(transport)
                return answer
        transport.close()
        return answer

    def _take(self) -> HttpTransport:
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._factory()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for transport in idle:
            transport.close()
