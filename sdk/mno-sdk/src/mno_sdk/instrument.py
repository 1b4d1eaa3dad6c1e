"""Recording every call of a provider client's methods: what the drop-in wrappers are made of.

`mno_sdk.openai`, `mno_sdk.anthropic` and `mno_sdk.gemini` subclass the real clients and replace the
methods that call a model with recorded ones; this module holds the provider-independent part and
never imports a provider library. Without an explicit `mno=` client, the wrappers report to the one
`default_client()` builds from ``MNO_BASE_URL`` and ``MNO_API_KEY``; with neither, calls run unrecorded
(one warning says so), so installing the wrapper never breaks an app.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Optional, Protocol, cast

from mno_sdk.client import MnoClient
from mno_sdk.events import CallContext
from mno_sdk.extract import Shape
from mno_sdk.streams import Finish, collector_for, wrap_stream

log = logging.getLogger("mno_sdk")

BASE_URL_VARIABLE = "MNO_BASE_URL"
API_KEY_VARIABLE = "MNO_API_KEY"

_default: MnoClient | None = None
_default_lock = threading.Lock()
_warned = False

# Decides from a call's keyword arguments whether it streams, and may adjust them (e.g. to ask for
# usage); returns a predicate of the chunks to keep from the caller (those it did not ask for).
# `Optional`, not `|`: an alias is evaluated at import, and the SDK supports Python 3.9.
Prepare = Callable[[dict[str, Any]], Optional[Callable[[Any], bool]]]


def default_client() -> MnoClient | None:
    """The process-wide client configured by the environment, made on first use; None when unset."""
    global _default, _warned
    with _default_lock:
        if _default is None:
            base_url, api_key = os.environ.get(BASE_URL_VARIABLE), os.environ.get(API_KEY_VARIABLE)
            if base_url and api_key:
                _default = MnoClient(base_url, api_key)
            elif not _warned:
                _warned = True
                log.warning(
                    "mno_sdk: %s and %s are not set and no mno= client was given: calls are not recorded",
                    BASE_URL_VARIABLE,
                    API_KEY_VARIABLE,
                )
        return _default


def _keep_all(chunk: Any) -> bool:
    return False


class Wrap(Protocol):
    """`Instrumentation.sync` or `.async_`, as a sync or an async client needs."""

    def __call__(
        self, method: Callable[..., Any], shape: Shape, prepare: Prepare | None = None
    ) -> Callable[..., Any]: ...


class Instrumentation:
    """Where a wrapped client's calls are recorded: the MnoClient, the provider name and the context.

    `request_usage`: whether the wrapper may add request options that make the provider send usage
    (OpenAI's `stream_options.include_usage`); the providers that always send it ignore it."""

    def __init__(
        self,
        mno: MnoClient | None,
        provider: str,
        context: CallContext | None,
        *,
        request_usage: bool = True,
    ) -> None:
        self.mno = mno
        self.provider = provider
        self.context: CallContext = dict(context or {})  # type: ignore[assignment]
        self.request_usage = request_usage

    @property
    def client(self) -> MnoClient | None:
        return self.mno if self.mno is not None else default_client()

    def _finish(self, client: MnoClient, shape: Shape) -> Finish:
        return Finish(
            client.track(self.provider, shape=shape, **self.context), collector_for(self.provider, shape)
        )

    def sync(
        self, method: Callable[..., Any], shape: Shape, prepare: Prepare | None = None
    ) -> Callable[..., Any]:
        """`method` recorded: a response when it answers one, a wrapped stream when it streams.

        `prepare` None means the method always streams (a `generate_content_stream`, a `stream()`)."""

        @functools.wraps(method)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            client = self.client
            if client is None:
                return method(*args, **kwargs)
            hide = _keep_all if prepare is None else prepare(kwargs)
            if hide is None:  # not a stream
                with client.track(self.provider, shape=shape, **self.context) as call:
                    response = method(*args, **kwargs)
                    call.response(response)
                    return response
            finish = self._finish(client, shape)
            try:
                stream = method(*args, **kwargs)
            except Exception as exc:
                finish(exc)
                raise
            return wrap_stream(stream, finish, hide)

        return recorded

    def async_(
        self, method: Callable[..., Any], shape: Shape, prepare: Prepare | None = None
    ) -> Callable[..., Awaitable[Any]]:
        """`sync` for coroutine methods (an async client's `create`, `generate_content_stream`)."""
        coroutine = cast(Callable[..., Awaitable[Any]], method)

        @functools.wraps(method)
        async def recorded(*args: Any, **kwargs: Any) -> Any:
            client = self.client
            if client is None:
                return await coroutine(*args, **kwargs)
            hide = _keep_all if prepare is None else prepare(kwargs)
            if hide is None:
                async with client.track(self.provider, shape=shape, **self.context) as call:
                    response = await coroutine(*args, **kwargs)
                    call.response(response)
                    return response
            finish = self._finish(client, shape)
            try:
                stream = await coroutine(*args, **kwargs)
            except Exception as exc:
                finish(exc)
                raise
            return wrap_stream(stream, finish, hide)

        return recorded


def streams_when_asked(kwargs: dict[str, Any]) -> Callable[[Any], bool] | None:
    """`stream=True` streams; nothing to adjust (Anthropic and the Responses API always send usage)."""
    return _keep_all if kwargs.get("stream") is True else None


def replace(resource: Any, name: str, recorded: Callable[..., Any]) -> None:
    """Shadow one method of a client's resource object (the resource is cached per client)."""
    setattr(resource, name, recorded)


class InstrumentedClient:
    """What every drop-in client shares, written once for its sync and its async class.

    A provider module subclasses it with `_mno_wrap` (which methods to record) and its constructor,
    then each real client: `class AsyncOpenAI(_Recorded, openai.AsyncOpenAI)` with `_mno_async = True`.
    `copy()` / `with_options()` build a new client through the constructor (with default `mno_*`
    arguments): the clone is then instrumented like the original, recording to the same place."""

    _mno: Instrumentation
    _mno_async: ClassVar[bool] = False

    def _mno_wrap(self, instrumentation: Instrumentation, wrap: Wrap) -> None:
        raise NotImplementedError

    def _mno_install(self, instrumentation: Instrumentation) -> None:
        self._mno = instrumentation
        self._mno_wrap(instrumentation, instrumentation.async_ if self._mno_async else instrumentation.sync)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        # The mixin precedes the provider's client in the MRO: `super()` is that client.
        clone = cast(Any, super()).copy(*args, **kwargs)
        clone._mno_install(self._mno)
        return clone

    with_options = copy
