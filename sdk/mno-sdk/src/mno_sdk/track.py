"""Timing and recording one provider call, as a context manager or a decorator.

A tracked block never breaks the app's call: a response without usable usage is logged and counted
(`Stats.invalid_tracked`) instead of raised, and an exception propagates untouched, after an `error`
event was recorded for it when it came before the provider's response.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

from typing_extensions import ParamSpec, Unpack

from mno_sdk.events import CallContext, EventContext, new_event_id, split_model
from mno_sdk.extract import EXTRACTORS, Extracted, Shape
from mno_wire.usage import Usage

log = logging.getLogger("mno_sdk")

P = ParamSpec("P")
R = TypeVar("R")

UNKNOWN_MODEL = "unknown"


class Recorder(Protocol):
    def __call__(self, provider: str, model: str, usage: Usage, **context: Unpack[EventContext]) -> str: ...


class TrackedCall:
    """The handle of one tracked call: hand it the provider's response (or the counts yourself)."""

    def __init__(self) -> None:
        self.event_id = new_event_id()
        self._started = time.perf_counter()
        self._latency_ms: float | None = None
        self._response: Any = None
        self._usage: Usage | None = None
        self._model: str | None = None

    def response(self, response: Any) -> None:
        """The provider's response; its arrival ends the call's latency."""
        self._stop()
        self._response = response

    def usage(
        self,
        *,
        model: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
    ) -> None:
        """Counts given directly (disjoint buckets), for providers without a known response shape."""
        self._stop()
        self._model = model or self._model
        self._usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
        )

    def _stop(self) -> None:
        if self._latency_ms is None:
            self._latency_ms = (time.perf_counter() - self._started) * 1000

    def _latency(self) -> float:
        self._stop()
        assert self._latency_ms is not None
        return self._latency_ms


class Track:
    """`with client.track(...) as call:` / `async with` / `@client.track(...)`."""

    def __init__(
        self,
        record: Recorder,
        on_invalid: Callable[[], None],
        provider: str,
        shape: Shape | None,
        context: CallContext,
    ) -> None:
        self._record = record
        self._on_invalid = on_invalid
        self._provider = provider
        self._shape = shape
        self._extract = EXTRACTORS.get(shape or provider)
        self._context = context
        self._call: TrackedCall | None = None

    def __enter__(self) -> TrackedCall:
        self._call = TrackedCall()
        return self._call

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        call, self._call = self._call, None
        if call is not None:
            # An exception after the response arrived is the app's, not the provider call's.
            answered = call._response is not None or call._usage is not None
            self._finish(call, failed=isinstance(exc, Exception) and not answered)

    async def __aenter__(self) -> TrackedCall:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a function returning the provider's response (a coroutine function too)."""
        if inspect.iscoroutinefunction(fn):
            async_fn = cast(Callable[P, Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                with self._fresh() as call:
                    result = await async_fn(*args, **kwargs)
                    call.response(result)
                    return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self._fresh() as call:
                result = fn(*args, **kwargs)
                call.response(result)
                return result

        return wrapper

    def _fresh(self) -> Track:
        # A decorated function may run in many threads at once: each run gets its own Track.
        return Track(self._record, self._on_invalid, self._provider, self._shape, self._context)

    def _finish(self, call: TrackedCall, *, failed: bool) -> None:
        explicit, context = split_model(self._context)
        context["event_id"] = call.event_id
        context["latency_ms"] = call._latency()
        if failed:
            context["status"] = "error"
        usage, model = call._usage, call._model
        extracted: Extracted | None = None
        if call._response is not None:
            try:
                extracted = self._extracted(call._response)
            except ValueError as exc:
                log.warning("mno_sdk: no usage recorded for a tracked %s call: %s", self._provider, exc)
                extracted = None
            if extracted is not None:
                usage = usage if usage is not None else extracted.usage
                if not context.get("request_id"):
                    context["request_id"] = extracted.request_id
        if usage is None and not failed:
            if call._response is None:
                log.warning("mno_sdk: a tracked %s call ended without call.response()", self._provider)
            self._on_invalid()
            return
        # The caller's explicit model wins over the one the response names.
        model = model or explicit or (extracted.model if extracted else None) or UNKNOWN_MODEL
        try:
            self._record(self._provider, model, usage or Usage(), **context)
        except ValueError as exc:
            log.warning("mno_sdk: could not record a tracked %s call: %s", self._provider, exc)
            self._on_invalid()

    def _extracted(self, response: Any) -> Extracted:
        if self._extract is None:
            raise ValueError(
                f"no known response shape for provider {self._provider!r}: pass shape= or call.usage(...)"
            )
        return self._extract(response)
