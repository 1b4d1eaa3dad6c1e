"""`MnoClient`: record LLM calls from any thread or event loop; one background thread ships them."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import random
import ssl
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import quote

from typing_extensions import Unpack

from mno_sdk.background import Background
from mno_sdk.buffer import Buffer
from mno_sdk.errors import MnoApiError
from mno_sdk.events import AssignmentUsed, CallContext, EventContext, PromptUsed, build_event, split_model
from mno_sdk.experiments import ExperimentAssignment, Experiments
from mno_sdk.extract import (
    Extracted,
    Shape,
    from_anthropic_response,
    from_gemini_response,
    from_openai_response,
)
from mno_sdk.prompts import (
    DEFAULT_LABEL,
    PROMPTS_PATH,
    Fallback,
    Prompt,
    PromptCache,
    RenderedPrompt,
    render_body,
    rendered_of,
)
from mno_sdk.protocol import error_of
from mno_sdk.sender import ErrorCallback, Event, Sender
from mno_sdk.stats import Counters, Stats
from mno_sdk.streams import Finish, collector_for, wrap_stream
from mno_sdk.track import Track
from mno_sdk.transport import ConnectionPool, HttpTransport, Transport
from mno_wire.token_events import MAX_EVENTS_PER_BATCH
from mno_wire.usage import Usage

log = logging.getLogger("mno_sdk")

__version__ = "0.1.0"
USER_AGENT = f"mno-sdk-python/{__version__}"
DEFAULT_CLOSE_TIMEOUT = 5.0

_open_clients: weakref.WeakSet[MnoClient] = weakref.WeakSet()

S = TypeVar("S")


class MnoClient:
    """Reports LLM calls' token usage to a MachineNativeOps edge.

    `record*` only validate and queue (never network I/O, never waiting for a lock held during I/O),
    so they are safe in request handlers and coroutines. One daemon thread sends batches of up to
    `batch_size` events, at the latest `flush_interval` seconds after the oldest queued one.
    `flush()` sends what is queued now; `close()` (also run at interpreter exit) sends the rest.

    `get_prompt` serves prompts from a TTL cache (`cache_ttl` seconds, revalidated in the
    background after it); `assign` assigns experiment variants locally from a definition cached
    the same way and logs each unit's exposure once, in the background.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 10.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 300.0,
        on_error: ErrorCallback | None = None,
        ssl_context: ssl.SSLContext | None = None,
        cache_ttl: float = 60.0,
    ) -> None:
        if cache_ttl < 0:
            raise ValueError("cache_ttl must be >= 0")
        if not 1 <= batch_size <= MAX_EVENTS_PER_BATCH:
            raise ValueError(f"batch_size must be within 1..{MAX_EVENTS_PER_BATCH}")
        if flush_interval <= 0 or timeout <= 0 or max_retries < 0 or backoff_base < 0:
            raise ValueError("flush_interval and timeout must be positive, max_retries and backoff_base >= 0")
        self._base_url = base_url
        self._api_key = api_key
        self._ssl_context = ssl_context
        self._settings: dict[str, Any] = {
            "batch_size": batch_size,
            "flush_interval": flush_interval,
            "max_retries": max_retries,
            "backoff_base": backoff_base,
            "backoff_max": backoff_max,
            "max_retry_after": max_retry_after,
            "on_error": on_error,
        }
        self._timeout = timeout
        self._max_queue = max_queue
        self._counters = Counters()
        self._lock = threading.Lock()  # guards (re)starting the sender, never held during I/O
        self._closed = False
        # Fails fast on a malformed base_url or api_key, in the constructor rather than in the thread.
        self._new_transport().close()
        self._start()
        # Prompts and experiments: any caller's thread, each on a connection of the pool; their
        # background work (revalidations, exposures) on a few threads of its own.
        self._pool = ConnectionPool(self._http_transport)
        self._background = Background(name="mno-sdk-background")
        self._prompts = PromptCache(self._pool, self._background, cache_ttl)
        self._experiments = Experiments(self._pool, self._background, cache_ttl)
        _open_clients.add(self)

    # ---- recording -------------------------------------------------------------------------

    def record(
        self,
        provider: str,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        latency_ms: float | None = None,
        user: str | None = None,
        project: str | None = None,
        tags: Mapping[str, str] | None = None,
        prompt_name: str | None = None,
        prompt_version: str | None = None,
        prompt: PromptUsed | None = None,
        experiment: AssignmentUsed | None = None,
        request_id: str | None = None,
        timestamp: datetime | None = None,
        status: str = "ok",
        event_id: str | None = None,
    ) -> str:
        """Queue one call's usage in disjoint buckets; returns the event id.

        `prompt` (what `get_prompt` or `render_prompt` returned) names the prompt and version and
        tags the event with its content hash (`prompt_hash`); `experiment` (what `assign` returned)
        tags it for its variant. Both work the same on `track`, `record_openai` and the others.

        Raises ValueError when an argument is invalid (negative counts, a naive timestamp, ...).
        `input_tokens` are uncached input only, `output_tokens` exclude `reasoning_tokens`;
        `cache_write_tokens` are 5-minute cache writes, `cache_write_1h_tokens` Anthropic's 1-hour ones.
        """
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
        )
        return self._record_usage(
            provider,
            model,
            usage,
            latency_ms=latency_ms,
            user=user,
            project=project,
            tags=tags,
            prompt_name=prompt_name,
            prompt_version=prompt_version,
            prompt=prompt,
            experiment=experiment,
            request_id=request_id,
            timestamp=timestamp,
            status=status,
            event_id=event_id,
        )

    def record_openai(
        self, response: Any, *, provider: str = "openai", **context: Unpack[CallContext]
    ) -> str:
        """Record an OpenAI Chat Completions or Responses API response (SDK object or JSON dict).

        `provider` names OpenAI-compatible services (e.g. "azure") answering in the same shape.
        """
        return self._record_extracted(provider, from_openai_response(response), context)

    def record_anthropic(
        self, response: Any, *, provider: str = "anthropic", **context: Unpack[CallContext]
    ) -> str:
        """Record an Anthropic Messages response (SDK object or JSON dict)."""
        return self._record_extracted(provider, from_anthropic_response(response), context)

    def record_gemini(
        self, response: Any, *, provider: str = "gemini", **context: Unpack[CallContext]
    ) -> str:
        """Record a Gemini generateContent response (google-genai object or REST JSON dict)."""
        return self._record_extracted(provider, from_gemini_response(response), context)

    def record_stream(
        self, provider: str, stream: S, *, shape: Shape | None = None, **context: Unpack[CallContext]
    ) -> S:
        """Wrap a provider stream: every chunk passes through unchanged, and the call is recorded once
        the stream is exhausted, closed or its `with` block left (sync or async iterators, and stream
        managers such as anthropic's `messages.stream()`, whose accumulated message is read at exit).

        An OpenAI Chat Completions stream carries usage only when created with
        `stream_options={"include_usage": True}` (the `mno_sdk.openai` wrappers ask for it).
        `shape` says how to read the chunks when `provider` is not one of openai, anthropic, gemini.
        """
        collector = collector_for(provider, shape)
        finish = Finish(self.track(provider, shape=shape, **context), collector)
        return cast(S, wrap_stream(stream, finish))

    def track(self, provider: str, *, shape: Shape | None = None, **context: Unpack[CallContext]) -> Track:
        """Time a call and record it: `with client.track("openai") as call: call.response(resp)`,
        `async with`, or as a decorator of a function returning the response.

        `shape` says how to read the response when `provider` is not one of openai, anthropic, gemini.
        """
        return Track(self._record_usage, self._invalid_tracked, provider, shape, context)

    # ---- prompts and experiments ---------------------------------------------------------------

    def get_prompt(
        self,
        name: str,
        *,
        label: str = DEFAULT_LABEL,
        version: int | None = None,
        fallback: Fallback | None = None,
        cache_ttl: float | None = None,
    ) -> Prompt:
        """The version `label` points to (or version `version`), from the cache when fetched within
        `cache_ttl` seconds (default: the client's), else from the edge.

        After the TTL the cached copy is answered at once and revalidated in the background. While
        the edge cannot be reached or answers 5xx, the last good copy is served with `stale=True`;
        `fallback` (a text template or a prompt document) only when no good copy was ever fetched
        (`fallback=True`), and without one that is `MnoUnavailable`. Other errors (404: no such
        prompt, label or version) raise `MnoApiError`, whatever is cached.
        """
        return self._prompts.get(name, label, version, fallback, cache_ttl)

    async def aget_prompt(
        self,
        name: str,
        *,
        label: str = DEFAULT_LABEL,
        version: int | None = None,
        fallback: Fallback | None = None,
        cache_ttl: float | None = None,
    ) -> Prompt:
        """`get_prompt` without blocking the event loop."""
        return await asyncio.to_thread(
            self.get_prompt, name, label=label, version=version, fallback=fallback, cache_ttl=cache_ttl
        )

    def render_prompt(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        label: str = DEFAULT_LABEL,
        version: int | None = None,
    ) -> RenderedPrompt:
        """Render a version on the edge (`POST /api/v1/prompts/{name}/render`: includes resolved,
        variables type-checked; a 422 `MnoApiError` names each problem). Not cached; pass
        `version=prompt.version` to render exactly the version `get_prompt` served."""
        answer = self._pool.request(
            "POST",
            f"{PROMPTS_PATH}/{quote(name, safe='')}/render",
            render_body(label, version, variables or {}),
        )
        if answer.status != 200:
            raise error_of(answer.status, answer.body, answer.request_id)
        try:
            return rendered_of(json.loads(answer.body))
        except ValueError as error:
            raise MnoApiError(answer.status, "unexpected_response", str(error)) from None

    async def arender_prompt(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        label: str = DEFAULT_LABEL,
        version: int | None = None,
    ) -> RenderedPrompt:
        """`render_prompt` without blocking the event loop."""
        return await asyncio.to_thread(self.render_prompt, name, variables, label=label, version=version)

    def assign(self, experiment_id: str, unit_id: str) -> ExperimentAssignment:
        """The variant (and prompt version) to serve `unit_id` (a user or session id) in the
        experiment, computed here with the server's own function: no request once the definition
        is cached (`cache_ttl`). The unit's first assignment in the experiment logs its exposure in
        the background. Units outside the coverage, of a stopped variant or of an experiment not
        running get the control with `in_experiment=False`. Put `assignment.tags` on the call's
        token events so they count for the variant.
        """
        return self._experiments.assign(experiment_id, unit_id)

    async def aassign(self, experiment_id: str, unit_id: str) -> ExperimentAssignment:
        """`assign`; only the first call of an experiment (its definition) does I/O, in a thread."""
        return await asyncio.to_thread(self.assign, experiment_id, unit_id)

    # ---- delivery --------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything recorded so far now (token events and exposures); True when all of it
        was handled (sent, rejected or failed) within `timeout` seconds."""
        buffer = self._buffer
        deadline = None if timeout is None else time.monotonic() + timeout
        self._experiments.flush()
        sent = buffer.wait_done(buffer.request_flush(), timeout)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self._background.wait_idle(left) and sent

    async def aflush(self, timeout: float | None = None) -> bool:
        """`flush` without blocking the event loop."""
        return await asyncio.to_thread(self.flush, timeout)

    def close(self, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> bool:
        """Send what is queued and stop the sender; True when everything was handled within `timeout`.

        Events recorded after close are dropped. When time runs out, retries stop and what is left
        counts as failed.
        """
        with self._lock:
            self._closed = True
            buffer, thread, sender = self._buffer, self._thread, self._sender
        started = time.monotonic()
        target = buffer.close()
        finished = buffer.wait_done(target, timeout)
        if not finished:
            log.warning("mno_sdk: close timed out with %d token events not delivered", len(buffer))
            sender.abort()
        thread.join(timeout if finished else 1.0)
        self._experiments.flush()
        finished = self._background.close(max(0.0, timeout - (time.monotonic() - started))) and finished
        self._pool.close()
        _open_clients.discard(self)
        return finished

    async def aclose(self, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> bool:
        """`close` without blocking the event loop."""
        return await asyncio.to_thread(self.close, timeout)

    def resume(self) -> None:
        """Start sending again after a plan limit (402) stopped it, e.g. once the plan was upgraded."""
        self._counters.resume()

    @property
    def stats(self) -> Stats:
        return self._counters.snapshot(queued=len(self._buffer))

    def __enter__(self) -> MnoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals -------------------------------------------------------------------------

    def _record_usage(self, provider: str, model: str, usage: Usage, **context: Unpack[EventContext]) -> str:
        event = build_event(provider, model, usage, **context)
        event_id: str = event["id"]
        self._check_fork()
        if self._closed:
            self._drop("the client is closed")
        elif self._counters.halted:  # the sender logged why when it stopped
            self._counters.add("failed")
        elif not self._buffer.put(event):
            self._drop("the queue is full")
        return event_id

    def _record_extracted(self, provider: str, extracted: Extracted, call_context: CallContext) -> str:
        explicit, context = split_model(call_context)
        model = explicit or extracted.model
        if not model:
            raise ValueError("the response names no model: pass model=...")
        if not context.get("request_id"):
            context["request_id"] = extracted.request_id
        return self._record_usage(provider, model, extracted.usage, **context)

    def _drop(self, why: str) -> None:
        count = self._counters.add("dropped")
        if count == 1 or count % 1000 == 0:
            log.warning("mno_sdk: dropped a token event (%d so far): %s", count, why)

    def _invalid_tracked(self) -> None:
        self._counters.add("invalid_tracked")

    def _new_transport(self) -> Transport:
        return self._http_transport()

    def _http_transport(self) -> HttpTransport:
        return HttpTransport(
            self._base_url,
            self._api_key,
            timeout=self._timeout,
            user_agent=USER_AGENT,
            ssl_context=self._ssl_context,
        )

    def _start(self) -> None:
        self._pid = os.getpid()
        self._buffer: Buffer[Event] = Buffer(self._max_queue)
        self._sender = Sender(
            self._new_transport(), self._buffer, self._counters, rng=random.Random(), **self._settings
        )
        self._thread = threading.Thread(target=self._sender.run, name="mno-sdk-sender", daemon=True)
        self._thread.start()
        # A client dropped without close() still sends its queue and lets its thread end.
        weakref.finalize(self, self._buffer.close)

    def _check_fork(self) -> None:
        # A forked child (gunicorn, multiprocessing) inherits the queue but not the thread: it starts
        # afresh, and leaves the inherited events to the parent, which still sends them.
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid() and not self._closed:
                    self._start()


@atexit.register
def _close_open_clients() -> None:
    for client in list(_open_clients):
        try:
            client.close()
        except Exception:
            log.exception("mno_sdk: closing a client at exit failed")
