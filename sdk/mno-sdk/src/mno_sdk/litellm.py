"""A LiteLLM callback that records every call: `litellm.callbacks = [MnoLogger()]`.

LiteLLM hands every success and failure callback the call's response in OpenAI shape, whatever the
provider: its `usage` carries the prompt total *including* cache reads and writes, with the split in
`prompt_tokens_details.cached_tokens` / `.cache_creation_tokens` (and
`.cache_creation_token_details` for Anthropic's 1-hour writes) and reasoning in
`completion_tokens_details.reasoning_tokens`. `mno_wire.usage.from_openai` reads every one of
those keys, so cache writes are priced as cache writes, not as input. For a stream LiteLLM calls the
success callback once, with the assembled response (`complete_streaming_response`).

We price the tokens ourselves; LiteLLM's own `response_cost` is not sent (its price table is not ours).
The provider is LiteLLM's `custom_llm_provider` (``openai``, ``anthropic``, ``gemini``, ``vertex_ai``...);
the model is the one the provider answered with, else the one asked for without LiteLLM's prefix.
An OpenAI(-compatible) stream carries usage only with `stream_options={"include_usage": True}`; without
it LiteLLM estimates the counts with a tokenizer, and the event says so (`estimated_counts`): pass
`stream_options` in the call (or in the proxy's `litellm_params`) for exact counts.
Also usable in the LiteLLM proxy (`litellm_settings.callbacks`, see the README).
Requires the `litellm` package (an optional dependency of the SDK).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from typing_extensions import Unpack

from mno_sdk.client import MnoClient
from mno_sdk.events import CallContext, split_model
from mno_sdk.extract import as_mapping, field
from mno_sdk.instrument import default_client
from mno_wire.usage import Usage, from_openai

__all__ = ["MnoLogger"]

log = logging.getLogger("mno_sdk")


class MnoLogger(CustomLogger):  # type: ignore[misc]  # litellm ships no type information for it
    """Records each LiteLLM call (sync, async, streamed) to `mno` (default: MNO_BASE_URL/MNO_API_KEY)."""

    def __init__(self, mno: MnoClient | None = None, **context: Unpack[CallContext]) -> None:
        super().__init__()
        self._mno = mno
        self._context = context

    # LiteLLM calls the sync hooks for `completion`, the async ones for `acompletion`.
    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    def _record(self, kwargs: dict[str, Any], response: Any, start: Any, end: Any, *, failed: bool) -> None:
        # A callback must never break the app's call: problems are logged, never raised.
        try:
            client = self._mno if self._mno is not None else default_client()
            if client is None:
                return
            response = kwargs.get("complete_streaming_response") or response
            payload = kwargs.get("standard_logging_object") or {}
            provider = _text(payload.get("custom_llm_provider")) or _text(kwargs.get("custom_llm_provider"))
            model = _text(field(response, "model")) if response is not None and not failed else None
            model = model or _unprefixed(_text(payload.get("model")) or _text(kwargs.get("model")), provider)
            usage = Usage()
            if not failed:
                raw = as_mapping(field(response, "usage"))
                if not raw:
                    log.warning("mno_sdk: LiteLLM %s call without usage: not recorded", provider)
                    return
                usage = from_openai(raw)
            explicit, context = split_model(self._context)  # a copy: the logger serves many calls
            context["latency_ms"] = _latency_ms(start, end)
            context["status"] = "error" if failed else "ok"
            if not failed and response is not None:
                context["request_id"] = _text(field(response, "id"))
            if not failed and _estimated_stream(kwargs, payload, provider):
                context["estimated_counts"] = _ESTIMATED
            if not context.get("user"):
                context["user"] = _text(payload.get("end_user")) or _text(kwargs.get("user"))
            client._record_usage(provider or "litellm", explicit or model or "unknown", usage, **context)
        except Exception:
            log.exception("mno_sdk: could not record a LiteLLM call")


# Providers whose streams always carry their usage; the others (OpenAI and the OpenAI-compatible
# ones) send it only when `stream_options.include_usage` was asked for, and without it LiteLLM
# counts the stream's tokens with a tokenizer: an estimate, which knows no cached or reasoning tokens.
_STREAMS_WITH_USAGE = frozenset({"anthropic", "gemini", "vertex_ai", "vertex_ai_beta", "bedrock"})
_ESTIMATED = ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens")


def _estimated_stream(kwargs: Mapping[str, Any], payload: Mapping[str, Any], provider: str | None) -> bool:
    if not (kwargs.get("stream") or payload.get("stream")) or provider in _STREAMS_WITH_USAGE:
        return False
    for source in (kwargs.get("optional_params"), kwargs):
        options = source.get("stream_options") if isinstance(source, Mapping) else None
        if isinstance(options, Mapping) and options.get("include_usage") is True:
            return False
    return True


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _unprefixed(model: str | None, provider: str | None) -> str | None:
    if model and provider and model.startswith(provider + "/"):
        return model[len(provider) + 1 :]
    return model


def _latency_ms(start: Any, end: Any) -> float | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max((end - start).total_seconds() * 1000, 0.0)
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return max((end - start) * 1000, 0.0)
    return None
