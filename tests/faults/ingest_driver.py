"""Steady ingest with recorded ids, as a client under faults sees it.

A background asyncio task (on a thread of its own, so the test can kill and wait with blocking calls
meanwhile) sends a batch of `batch_size` token events every `interval` seconds to
`POST /api/v1/token-events`. Every event has a unique id and carries it as a tag value (under a tag
key naming its thousand: see `tag_key`), so the cost report can count what is stored per id.

Each batch is sent until the edge accepts it, as the SDK does: a 2xx answer settles it (its `ids`
and `duplicate_ids` are the events the edge vouches for); 408, 429, every 5xx (503, and 504
`outcome_unknown` whose body says a resend with the same ids is safe), a connection error or no
answer within `client_timeout` make it wait (Retry-After, else backoff) and send the very same
events again. Other 4xx answers are final: the batch is recorded as refused. Every attempt is
recorded (status, error code, latency), so a test can tell a slow answer from a hang.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

INGEST_PATH = "/api/v1/token-events"
# The cost report groups by one tag key at most 1,000 values at a time: each key holds that many ids.
IDS_PER_TAG_KEY = 1000
_RETRY_STATUSES = frozenset({408, 429})
_RETRY_AFTER_CAP = 5.0
_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 2.0


def tag_key(label: str, sequence: int) -> str:
    return f"{label}.{sequence // IDS_PER_TAG_KEY}"


@dataclass(frozen=True)
class Attempt:
    """One HTTP request of a batch: when it started (monotonic clock), how long it took, its answer."""

    batch: int
    attempt: int
    started: float
    latency: float
    status: int | None  # None: no HTTP answer at all
    code: str  # the error body's code, "connection_error" or "client_timeout"; "" for 2xx


@dataclass
class IngestRecord:
    """Everything the client saw; `accepted` counts, per id, the 2xx answers that listed it as new."""

    label: str
    started: float
    stopped: float = 0.0
    sent: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    duplicates: set[str] = field(default_factory=set)
    rejected: dict[str, Any] = field(default_factory=dict)  # id -> its errors in a 2xx answer
    refused_batches: dict[int, Attempt] = field(default_factory=dict)  # a final non-2xx answer
    unresolved_batches: set[int] = field(default_factory=set)  # still retrying when the drain ended
    skipped_ticks: int = 0  # batches not started because too many were in flight

    @property
    def accepted_ids(self) -> set[str]:
        """Ids the edge vouched for, once or more: new in one answer, or a duplicate of an earlier one."""
        return set(self.accepted) | self.duplicates

    @property
    def tag_keys(self) -> list[str]:
        return sorted({tag_key(self.label, int(i.rsplit("-", 1)[1])) for i in self.sent})

    def non_2xx(self) -> Counter[str]:
        """Answers that were not 2xx, by status and code ("503 service_unavailable", "- connection_error")."""
        return Counter(
            f"{a.status if a.status is not None else '-'} {a.code}".strip()
            for a in self.attempts
            if a.status is None or not 200 <= a.status < 300
        )

    def max_latency(self) -> float:
        return max((a.latency for a in self.attempts), default=0.0)

    def longest_gap(self) -> float:
        """The longest time with no 2xx answer arriving (from the first request to the last answer)."""
        ends = sorted(a.started + a.latency for a in self.attempts if a.status and 200 <= a.status < 300)
        points = [self.started, *ends]
        return max((b - a for a, b in itertools.pairwise(points)), default=0.0)


class SteadyIngest:
    """Paced ingest in the background: `start()`, inject faults, `stop()` returns the record."""

    def __init__(
        self,
        edge: str,
        token: str,
        label: str,
        *,
        batch_size: int = 10,
        interval: float = 0.1,
        max_in_flight: int = 64,
        client_timeout: float = 60.0,
        seed: int = 13,
    ) -> None:
        self._edge = edge
        self._token = token
        self._batch_size = batch_size
        self._interval = interval
        self._max_in_flight = max_in_flight
        self._client_timeout = client_timeout
        self._rng = random.Random(seed)
        self.record = IngestRecord(label=label, started=time.monotonic())
        self._stopping = threading.Event()
        self._drain_deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name=f"ingest-{label}", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> SteadyIngest:
        self.record.started = time.monotonic()
        self._thread.start()
        return self

    def stop(self, drain_timeout: float = 120.0) -> IngestRecord:
        """Start no more batches; wait until every batch in flight is settled (or `drain_timeout`)."""
        self._drain_deadline = time.monotonic() + drain_timeout
        self._stopping.set()
        self._thread.join(drain_timeout + 30.0)
        assert not self._thread.is_alive(), "the ingest driver did not stop"
        if self._error is not None:
            raise self._error
        self.record.stopped = time.monotonic()
        return self.record

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # surfaced by stop() in the test's thread
            self._error = error

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._client_timeout)
        connector = aiohttp.TCPConnector(limit=self._max_in_flight)
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, headers=headers, trust_env=False
        ) as session:
            in_flight: set[asyncio.Task[None]] = set()
            number = 0
            next_tick = time.monotonic()
            while not self._stopping.is_set():
                if len(in_flight) < self._max_in_flight:
                    task = asyncio.create_task(self._settle(session, number, self._batch(number)))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    number += 1
                else:
                    self.record.skipped_ticks += 1
                # Paced, not bursting to catch up: a stalled edge does not get a flood afterwards.
                next_tick = max(next_tick + self._interval, time.monotonic())
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            if in_flight:
                await asyncio.wait(in_flight)

    def _batch(self, number: int) -> list[dict[str, Any]]:
        label = self.record.label
        now = datetime.now(UTC).isoformat()
        events = []
        for position in range(self._batch_size):
            sequence = number * self._batch_size + position
            event_id = f"{label}-{sequence:07d}"
            self.record.sent.append(event_id)
            events.append(
                {
                    "id": event_id,
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_tokens": 100,
                    "output_tokens": 10,
                    "timestamp": now,  # set by the client, as the SDK does: a resend is the same event
                    "project": label,
                    "tags": {tag_key(label, sequence): event_id},
                }
            )
        return events

    async def _settle(
        self, session: aiohttp.ClientSession, number: int, events: list[dict[str, Any]]
    ) -> None:
        body = json.dumps({"events": events}).encode()
        attempt = 0
        while True:
            started = time.monotonic()
            status: int | None = None
            retry_after: float | None = None
            answer: Any = None
            try:
                async with session.post(f"{self._edge}{INGEST_PATH}", data=body) as response:
                    status = response.status
                    raw = await response.read()
                    retry_after = _seconds(response.headers.get("Retry-After"))
                try:
                    answer = json.loads(raw)
                except ValueError:
                    answer = raw.decode(errors="replace")
                code = "" if 200 <= status < 300 else _error_code(answer)
            except TimeoutError:
                code = "client_timeout"
            except aiohttp.ClientError:
                code = "connection_error"
            record = Attempt(number, attempt, started, time.monotonic() - started, status, code)
            self.record.attempts.append(record)
            if status is not None and 200 <= status < 300:
                self._settled(answer)
                return
            if status is not None and 400 <= status < 500 and status not in _RETRY_STATUSES:
                self.record.refused_batches[number] = record
                return
            if time.monotonic() > self._drain_deadline:
                self.record.unresolved_batches.add(number)
                return
            backoff = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt) * self._rng.uniform(0.5, 1.0)
            await asyncio.sleep(min(retry_after, _RETRY_AFTER_CAP) if retry_after is not None else backoff)
            attempt += 1

    def _settled(self, answer: dict[str, Any]) -> None:
        self.record.accepted.update(answer["ids"])
        self.record.duplicates.update(answer.get("duplicate_ids", []))
        for error in answer.get("errors", []):
            self.record.rejected[str(error.get("id"))] = error["errors"]


def _error_code(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("code", "?"))
    return "not_json"


def _seconds(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None
