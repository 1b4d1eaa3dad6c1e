"""A drop-in `google-genai` client that records every call: `from mno_sdk.gemini import Client`.

It is the real `google.genai.Client` (a subclass). Recorded: `models.generate_content`,
`models.generate_content_stream`, and the same two under `client.aio.models`.
Requires the `google-genai` package (an optional dependency of the SDK).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google import genai as _genai

from mno_sdk.client import MnoClient
from mno_sdk.events import CallContext
from mno_sdk.instrument import Instrumentation, Wrap, replace

__all__ = ["Client"]


def _never_streams(kwargs: dict[str, Any]) -> Callable[[Any], bool] | None:
    return None


def _wrap_models(models: Any, wrap: Wrap) -> None:
    """The sync `models` and the async `aio.models` have the same two methods."""
    replace(models, "generate_content", wrap(models.generate_content, "gemini", _never_streams))
    replace(models, "generate_content_stream", wrap(models.generate_content_stream, "gemini"))


class Client(_genai.Client):
    """`google.genai.Client`, recording every call to `mno` (default: from MNO_BASE_URL/MNO_API_KEY).

    `mno_provider` names the service (e.g. "vertex_ai"); `mno_context` is added to every event."""

    def __init__(
        self,
        *,
        mno: MnoClient | None = None,
        mno_provider: str = "gemini",
        mno_context: CallContext | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        instrumentation = Instrumentation(mno, mno_provider, mno_context)
        _wrap_models(self.models, instrumentation.sync)
        _wrap_models(self.aio.models, instrumentation.async_)
