"""Drop-in `anthropic` clients that record every call.

    from mno_sdk.anthropic import Anthropic, AsyncAnthropic


They are the real clients (subclasses). Recorded: `messages.create` (streamed or not) and
`messages.stream()` (from the message the library accumulated, when its `with` block is left).
Requires the `anthropic` package (an optional dependency of the SDK).
"""

from __future__ import annotations

from typing import Any

import anthropic as _anthropic

from mno_sdk.client import MnoClient
from mno_sdk.events import CallContext
from mno_sdk.instrument import Instrumentation, InstrumentedClient, Wrap, replace, streams_when_asked

__all__ = ["Anthropic", "AsyncAnthropic"]


class _Recorded(InstrumentedClient):
    """The constructor and the recorded methods of both clients (see `Anthropic`)."""

    def __init__(
        self,
        *args: Any,
        mno: MnoClient | None = None,
        mno_provider: str = "anthropic",
        mno_context: CallContext | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._mno_install(Instrumentation(mno, mno_provider, mno_context))

    def _mno_wrap(self, instrumentation: Instrumentation, wrap: Wrap) -> None:
        client: Any = self
        messages = client.messages
        replace(messages, "create", wrap(messages.create, "anthropic", streams_when_asked))
        # `stream()` returns its manager without awaiting, in the async client too.
        replace(messages, "stream", instrumentation.sync(messages.stream, "anthropic"))


class Anthropic(_Recorded, _anthropic.Anthropic):
    """`anthropic.Anthropic`, recording every call to `mno` (default: from MNO_BASE_URL/MNO_API_KEY)."""


class AsyncAnthropic(_Recorded, _anthropic.AsyncAnthropic):
    """`anthropic.AsyncAnthropic`, recording every call (see `Anthropic`)."""

    _mno_async = True
