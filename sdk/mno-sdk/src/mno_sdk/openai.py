"""Drop-in `openai` clients that record every call: `from mno_sdk.openai import OpenAI, AsyncOpenAI`.

They are the real clients (subclasses), so everything else behaves as before. Recorded:
`chat.completions.create` and `responses.create`, streamed or not, and so the library's
`chat.completions.stream()` and `responses.stream()` helpers, which call them.
A Chat Completions stream carries usage only when asked for: unless the caller set
`stream_options.include_usage` (or `mno_request_usage=False`), the wrapper asks for it and keeps
the extra usage-only chunk from the caller, who sees the chunks it would have seen without it.
Set `mno_request_usage=False` for OpenAI-compatible servers that refuse `stream_options`; their
streams then record nothing unless they send usage anyway (a warning says why).
Requires the `openai` package (an optional dependency of the SDK).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import openai as _openai

from mno_sdk.client import MnoClient
from mno_sdk.events import CallContext
from mno_sdk.extract import field
from mno_sdk.instrument import (
    Instrumentation,
    InstrumentedClient,
    Prepare,
    Wrap,
    replace,
    streams_when_asked,
)

__all__ = ["AsyncOpenAI", "OpenAI"]


def _is_usage_only(chunk: Any) -> bool:
    return field(chunk, "usage") is not None and not field(chunk, "choices")


def _keep(chunk: Any) -> bool:
    return False


def _asking_for_usage(request_usage: bool) -> Prepare:
    """Chat Completions streams: add `stream_options.include_usage` unless the caller decided."""

    def prepare(kwargs: dict[str, Any]) -> Callable[[Any], bool] | None:
        if kwargs.get("stream") is not True:
            return None
        options = kwargs.get("stream_options")
        options = dict(options) if isinstance(options, Mapping) else {}
        if not request_usage or options.get("include_usage") is not None:
            return _keep
        kwargs["stream_options"] = {**options, "include_usage": True}
        return _is_usage_only

    return prepare


class _Recorded(InstrumentedClient):
    """The constructor and the recorded methods of both clients (see `OpenAI`)."""

    def __init__(
        self,
        *args: Any,
        mno: MnoClient | None = None,
        mno_provider: str = "openai",
        mno_context: CallContext | None = None,
        mno_request_usage: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._mno_install(Instrumentation(mno, mno_provider, mno_context, request_usage=mno_request_usage))

    def _mno_wrap(self, instrumentation: Instrumentation, wrap: Wrap) -> None:
        client: Any = self
        completions = client.chat.completions
        # `chat.completions.stream()` calls this `create` (stream=True) itself: recorded through it, once.
        prepare = _asking_for_usage(instrumentation.request_usage)
        replace(completions, "create", wrap(completions.create, "openai", prepare))
        responses = client.responses
        replace(responses, "create", wrap(responses.create, "openai", streams_when_asked))


class OpenAI(_Recorded, _openai.OpenAI):
    """`openai.OpenAI`, recording every call to `mno` (default: the client from MNO_BASE_URL/MNO_API_KEY).

    `mno_provider` names an OpenAI-compatible service behind `base_url` (e.g. "azure", "deepseek");
    `mno_context` is added to every event (project, user, tags, ...)."""


class AsyncOpenAI(_Recorded, _openai.AsyncOpenAI):
    """`openai.AsyncOpenAI`, recording every call (see `OpenAI`)."""

    _mno_async = True
