"""Recording a streamed provider call: wrap the stream, pass every chunk through, record at its end.

A stream carries its usage in pieces: OpenAI Chat Completions in one last chunk (only when
``stream_options.include_usage`` was asked for), the Responses API in its ``response.completed``
event, Anthropic in ``message_start`` (input and cache counts) and ``message_delta`` (the output count,
and in newer API versions cumulative input counts too), Gemini in every chunk's ``usage_metadata``
(the last one holds the totals). A collector per shape gathers those pieces into one response-shaped
mapping that the ordinary extractors read, so a stream is priced exactly like the same call unstreamed.

The call is recorded once: when the stream is exhausted, closed, or its context is left (an
exception from the provider records an ``error`` event). Reading chunks touches only attributes the
collector needs (no per-chunk serialisation). Context-manager streams whose helpers consume the
stream themselves (anthropic's ``messages.stream()``, openai's ``chat.completions.stream()``) are
recorded from the accumulated snapshot the library keeps, when their context is left.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol

from mno_sdk.extract import Shape, as_mapping, field
from mno_sdk.track import Track, TrackedCall

# Attributes under which the libraries' stream helpers keep the message accumulated so far.
_SNAPSHOTS = ("current_message_snapshot", "current_completion_snapshot")


class Collector(Protocol):
    def feed(self, chunk: Any) -> None: ...

    def response(self) -> Mapping[str, Any] | None:
        """The call as one response-shaped mapping, or None when no usage arrived."""
        ...


class OpenAICollector:
    """Chat Completions chunks (the usage chunk) and Responses API events (``response.completed``)."""

    def __init__(self) -> None:
        self.usage: Any = None
        self.model: Any = None
        self.id: Any = None

    def feed(self, chunk: Any) -> None:
        kind = field(chunk, "type")
        if isinstance(kind, str) and kind.startswith("response."):
            response = field(chunk, "response")
            if response is None:
                return
            chunk = response
        self.model = field(chunk, "model") or self.model
        self.id = field(chunk, "id") or self.id
        self.usage = field(chunk, "usage") or self.usage

    def response(self) -> Mapping[str, Any] | None:
        if self.usage is None:
            return None
        return {"usage": as_mapping(self.usage), "model": self.model, "id": self.id}


class AnthropicCollector:
    """``message_start`` gives the input side, each ``message_delta`` the (cumulative) rest."""

    def __init__(self) -> None:
        self.usage: dict[str, Any] = {}
        self.model: Any = None
        self.id: Any = None

    def feed(self, chunk: Any) -> None:
        kind = field(chunk, "type")
        if kind == "message_start":
            message = field(chunk, "message")
            self.model = field(message, "model")
            self.id = field(message, "id")
            self._merge(field(message, "usage"))
        elif kind == "message_delta":
            self._merge(field(chunk, "usage"))

    def _merge(self, usage: Any) -> None:
        for key, value in (as_mapping(usage) or {}).items():
            if value is not None:  # a delta leaves the counts it does not repeat as they were
                self.usage[key] = value

    def response(self) -> Mapping[str, Any] | None:
        if not self.usage:
            return None
        return {"usage": self.usage, "model": self.model, "id": self.id}


class GeminiCollector:
    """Each chunk repeats the usage so far; the last one counts."""

    def __init__(self) -> None:
        self.usage: Any = None
        self.model: Any = None
        self.id: Any = None

    def feed(self, chunk: Any) -> None:
        self.usage = field(chunk, "usage_metadata", "usageMetadata") or self.usage
        self.model = field(chunk, "model_version", "modelVersion") or self.model
        self.id = field(chunk, "response_id", "responseId") or self.id

    def response(self) -> Mapping[str, Any] | None:
        if self.usage is None:
            return None
        return {"usage_metadata": as_mapping(self.usage), "model_version": self.model, "response_id": self.id}


COLLECTORS: Mapping[str, Callable[[], Collector]] = {
    "openai": OpenAICollector,
    "anthropic": AnthropicCollector,
    "gemini": GeminiCollector,
}


def collector_for(provider: str, shape: Shape | None) -> Collector:
    make = COLLECTORS.get(shape or provider)
    if make is None:
        raise ValueError(f"no known stream shape for provider {provider!r}: pass shape=")
    return make()


class Finish:
    """Records the tracked call once, from what the collector gathered."""

    def __init__(self, track: Track, collector: Collector) -> None:
        self._track = track
        self._call: TrackedCall = track.__enter__()
        self.collector = collector
        self._done = False

    def __call__(self, exc: BaseException | None = None, snapshot: Any = None) -> None:
        if self._done:
            return
        self._done = True
        response = self.collector.response()
        if response is None and snapshot is not None and field(snapshot, "usage") is not None:
            response = snapshot
        if response is not None:
            self._call.response(response)
        elif exc is None:
            self._call.response({"stream": "ended without usage"})  # logged and counted as invalid
        self._track.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)


def _skip_nothing(chunk: Any) -> bool:
    return False


class RecordedStream:
    """A synchronous stream passed through unchanged; the call is recorded at its end."""

    def __init__(self, inner: Any, finish: Finish, hide: Callable[[Any], bool] = _skip_nothing) -> None:
        self._inner = inner
        self._iterator: Iterator[Any] = iter(inner)
        self._finish = finish
        self._hide = hide  # chunks the caller did not ask for (a usage chunk requested on its behalf)

    def __iter__(self) -> RecordedStream:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                chunk = next(self._iterator)
            except StopIteration:
                self._finish()
                raise
            except Exception as exc:
                self._finish(exc)
                raise
            self._finish.collector.feed(chunk)
            if not self._hide(chunk):
                return chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        try:
            if callable(close):
                close()
        finally:
            self._finish()

    def __enter__(self) -> RecordedStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        close = getattr(self._inner, "close", None)
        try:
            if callable(close):
                close()
        finally:
            self._finish(exc if isinstance(exc, Exception) else None)

    def __getattr__(self, name: str) -> Any:  # `.response`, `.until_done()`, ... of the real stream
        return getattr(self._inner, name)


class AsyncRecordedStream:
    """An asynchronous stream passed through unchanged; the call is recorded at its end."""

    def __init__(self, inner: Any, finish: Finish, hide: Callable[[Any], bool] = _skip_nothing) -> None:
        self._inner = inner
        self._iterator: AsyncIterator[Any] = inner.__aiter__()
        self._finish = finish
        self._hide = hide

    def __aiter__(self) -> AsyncRecordedStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                chunk = await self._iterator.__anext__()
            except StopAsyncIteration:
                self._finish()
                raise
            except Exception as exc:
                self._finish(exc)
                raise
            self._finish.collector.feed(chunk)
            if not self._hide(chunk):
                return chunk

    async def _close_inner(self) -> None:
        for name in ("close", "aclose"):
            close = getattr(self._inner, name, None)
            if callable(close):
                result = close()
                if inspect.isawaitable(result):
                    await result
                return

    async def close(self) -> None:
        try:
            await self._close_inner()
        finally:
            self._finish()

    aclose = close

    async def __aenter__(self) -> AsyncRecordedStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._close_inner()
        finally:
            self._finish(exc if isinstance(exc, Exception) else None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RecordedStreamManager:
    """``with manager as stream:`` of a library's stream helper; recorded when the block is left."""

    def __init__(self, inner: Any, finish: Finish) -> None:
        self._inner = inner
        self._finish = finish
        self._stream: Any = None

    def __enter__(self) -> Any:
        self._stream = self._inner.__enter__()
        return self._stream

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self._inner.__exit__(exc_type, exc, tb)
        finally:
            self._finish(exc if isinstance(exc, Exception) else None, snapshot=_snapshot(self._stream))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class AsyncRecordedStreamManager:
    """``async with manager as stream:``; recorded when the block is left."""

    def __init__(self, inner: Any, finish: Finish) -> None:
        self._inner = inner
        self._finish = finish
        self._stream: Any = None

    async def __aenter__(self) -> Any:
        self._stream = await self._inner.__aenter__()
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self._inner.__aexit__(exc_type, exc, tb)
        finally:
            self._finish(exc if isinstance(exc, Exception) else None, snapshot=_snapshot(self._stream))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _snapshot(stream: Any) -> Any:
    for name in _SNAPSHOTS:
        try:
            value = getattr(stream, name, None)
        except Exception:  # a snapshot property raises before the first event
            value = None
        if value is not None:
            return value
    return None


def wrap_stream(stream: Any, finish: Finish, hide: Callable[[Any], bool] = _skip_nothing) -> Any:
    """The right wrapper for what `stream` is: an iterator, an async iterator, or a stream manager."""
    if hasattr(stream, "__aiter__"):
        return AsyncRecordedStream(stream, finish, hide)
    if hasattr(stream, "__iter__") or hasattr(stream, "__next__"):
        return RecordedStream(stream, finish, hide)
    if hasattr(stream, "__aenter__") and not hasattr(stream, "__enter__"):
        return AsyncRecordedStreamManager(stream, finish)
    if hasattr(stream, "__enter__"):
        return RecordedStreamManager(stream, finish)
    raise TypeError(f"not a stream: {type(stream).__name__}")
