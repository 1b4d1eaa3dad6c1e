"""What a proxied call used, read from the provider's answer (pure, no I/O).

Each provider's documented shapes, normalised by the same functions as every other way of reporting
a call (`mno_wire.usage.from_openai` / `from_anthropic` / `from_gemini`), so a proxied call
is priced exactly like one the SDK or OTLP reports:

* OpenAI: a JSON body with `usage` (Chat Completions and Responses); a stream's usage is the chunk
  that carries a non-null `usage` (Chat Completions with `stream_options.include_usage`) or the
  `response.completed` event's `response.usage` (Responses).
* Anthropic Messages: `usage` of the body; a stream's `message_start` carries the input side (input,
  cache reads and writes) and each `message_delta` the cumulative counts so far (output at least;
  newer API versions repeat the input side there too), so later non-null fields win.
* Gemini: `usageMetadata` of the body (or of the last element of a non-SSE stream's JSON array); with
  `alt=sse`, every chunk carries the cumulative `usageMetadata`, so the last one counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mno_wire.usage import Usage, from_anthropic, from_gemini, from_openai
from services.gateway.json_body import JsonRefused, read_json
from services.proxy.sse import SseEvent


class Provider(StrEnum):
    """The providers the proxy speaks, named as the price source names them."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


@dataclass(frozen=True, slots=True)
class Observed:
    """What the answer said about the call: usage None when it said nothing of it."""

    usage: Usage | None = None
    model: str | None = None
    response_id: str | None = None
    problem: str | None = None  # usage was sent but could not be read (e.g. a count below zero)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _observed(
    normalise: Callable[[Mapping[str, Any]], Usage], usage: object, model: object, response_id: object
) -> Observed:
    if not isinstance(usage, Mapping):
        return Observed(model=_text(model), response_id=_text(response_id))
    try:
        return Observed(usage=normalise(usage), model=_text(model), response_id=_text(response_id))
    except ValueError as error:
        return Observed(model=_text(model), response_id=_text(response_id), problem=str(error))


def _openai_object(body: Mapping[str, Any]) -> Observed:
    return _observed(from_openai, body.get("usage"), body.get("model"), body.get("id"))


def _anthropic_object(body: Mapping[str, Any]) -> Observed:
    return _observed(from_anthropic, body.get("usage"), body.get("model"), body.get("id"))


def _gemini_object(body: Mapping[str, Any]) -> Observed:
    return _observed(from_gemini, body.get("usageMetadata"), body.get("modelVersion"), body.get("responseId"))


def _merge(earlier: Observed, later: Observed) -> Observed:
    return Observed(
        usage=later.usage or earlier.usage,
        model=later.model or earlier.model,
        response_id=later.response_id or earlier.response_id,
        problem=later.problem or earlier.problem,
    )


def from_body(provider: Provider, body: bytes) -> Observed:
    """A whole (non-streamed) JSON answer; nothing observed when it is not JSON."""
    try:
        document = read_json(body)
    except JsonRefused:
        return Observed()
    if provider is Provider.GEMINI and isinstance(document, list):
        # streamGenerateContent without alt=sse: a JSON array of chunks, usage cumulative.
        observed = Observed()
        for item in document:
            if isinstance(item, Mapping):
                observed = _merge(observed, _gemini_object(item))
        return observed
    if not isinstance(document, Mapping):
        return Observed()
    reader: Callable[[Mapping[str, Any]], Observed] = {
        Provider.OPENAI: _openai_object,
        Provider.ANTHROPIC: _anthropic_object,
        Provider.GEMINI: _gemini_object,
    }[provider]
    return reader(document)


def _json_data(event: SseEvent) -> Mapping[str, Any] | None:
    if not event.data or event.data == "[DONE]":
        return None
    try:
        data = read_json(event.data.encode())
    except JsonRefused:
        return None
    return data if isinstance(data, Mapping) else None


class StreamUsage:
    """Folds a stream's events, as they pass, into what the call used."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self._observed = Observed()
        self._anthropic_usage: dict[str, Any] = {}

    def feed(self, events: Iterable[SseEvent]) -> None:
        for event in events:
            data = _json_data(event)
            if data is not None:
                self._fold(data)

    def result(self) -> Observed:
        return self._observed

    def _fold(self, data: Mapping[str, Any]) -> None:
        if self.provider is Provider.OPENAI:
            completed = data.get("response") if data.get("type") == "response.completed" else None
            self._observed = _merge(
                self._observed, _openai_object(completed if isinstance(completed, Mapping) else data)
            )
        elif self.provider is Provider.ANTHROPIC:
            self._fold_anthropic(data)
        else:
            self._observed = _merge(self._observed, _gemini_object(data))

    def _fold_anthropic(self, data: Mapping[str, Any]) -> None:
        kind = data.get("type")
        if kind == "message_start" and isinstance(data.get("message"), Mapping):
            message = data["message"]
            self._observed = _merge(
                self._observed,
                Observed(model=_text(message.get("model")), response_id=_text(message.get("id"))),
            )
            usage = message.get("usage")
        elif kind == "message_delta":
            usage = data.get("usage")
        else:
            return
        if isinstance(usage, Mapping):
            # Cumulative counts: a later non-null field replaces the earlier one.
            self._anthropic_usage.update({k: v for k, v in usage.items() if v is not None})
            folded = _observed(from_anthropic, self._anthropic_usage, None, None)
            self._observed = Observed(
                usage=folded.usage,
                model=self._observed.model,
                response_id=self._observed.response_id,
                problem=folded.problem,
            )


def is_openai_usage_chunk(event: SseEvent) -> bool:
    """The extra chunk `stream_options.include_usage` adds at the end: no choices, only usage."""
    data = _json_data(event)
    return (
        data is not None
        and data.get("choices") == []
        and isinstance(data.get("usage"), Mapping)
        and data.get("object", "chat.completion.chunk") == "chat.completion.chunk"
    )
