"""Usage, model and request id out of a provider's response, whatever form it comes in.

Responses arrive as the provider SDKs' objects (pydantic models in `openai`, `anthropic` and
`google-genai`) or as the REST JSON (dicts). We read them generically -- mapping keys, else
attributes -- so the SDK never imports a provider package. The token semantics of each provider
are normalised by `mno_wire.usage`, the same code the server prices with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mno_sdk.errors import UsageNotFound
from mno_wire.usage import Usage, from_anthropic, from_gemini, from_openai

Shape = Literal["openai", "anthropic", "gemini"]

_SCALARS = (str, bytes, int, float, bool, type(None))


@dataclass(frozen=True)
class Extracted:
    """What a response tells about its call."""

    usage: Usage
    model: str | None = None
    request_id: str | None = None


def field(obj: Any, *names: str) -> Any:
    """The first of `names` present and not None on `obj` (a mapping key or an attribute)."""
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


class AttributeMapping(Mapping[str, Any]):
    """A read-only mapping view of an object's attributes; nested objects are viewed the same way."""

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __getitem__(self, key: str) -> Any:
        try:
            value = getattr(self._obj, key)
        except AttributeError:
            raise KeyError(key) from None
        return value if isinstance(value, _SCALARS) else as_mapping(value)

    def __iter__(self) -> Iterator[str]:
        names = getattr(self._obj, "__dict__", None) or {
            name: None for name in dir(self._obj) if not name.startswith("_")
        }
        return (name for name in names if not name.startswith("_") and not callable(getattr(self._obj, name)))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def as_mapping(obj: Any) -> Mapping[str, Any] | None:
    """`obj` as a mapping: itself if it is one, its `model_dump()` / `to_dict()`, else its attributes."""
    if obj is None or isinstance(obj, Mapping):
        return obj
    for method in ("model_dump", "to_dict"):
        convert = getattr(obj, method, None)
        if callable(convert):
            try:
                converted = convert()
            except TypeError:  # e.g. proto-plus' `to_dict` is a classmethod taking the instance
                continue
            if isinstance(converted, Mapping):
                return converted
    return AttributeMapping(obj)


def _usage_of(response: Any, *names: str) -> Mapping[str, Any]:
    usage = as_mapping(field(response, *names))
    if not usage:
        if not isinstance(response, Mapping) and (
            hasattr(response, "__iter__") or hasattr(response, "__aiter__")
        ):
            raise UsageNotFound(
                "this is a stream, whose usage arrives in its chunks: wrap it with"
                " client.record_stream(provider, stream) and iterate the result"
            )
        raise UsageNotFound(
            f"the response has no {names[0]!r}"
            " (a stream must be read to its end, with usage requested, before it is recorded)"
        )
    return usage


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def from_openai_response(response: Any) -> Extracted:
    """A Chat Completions or Responses API response (object or JSON)."""
    return Extracted(
        usage=from_openai(_usage_of(response, "usage")),
        model=_text(field(response, "model")),
        request_id=_text(field(response, "id")),
    )


def from_anthropic_response(response: Any) -> Extracted:
    """A Messages API response (object or JSON)."""
    usage = _usage_of(response, "usage")
    if field(response, "type") == "message_delta" and usage.get("input_tokens") is None:
        # The final stream event repeats only the output count: recording it alone would bill 0 input.
        raise UsageNotFound(
            "a message_delta event carries only the output tokens (the input and cache counts are in"
            " message_start): wrap the stream with client.record_stream(provider, stream)"
        )
    return Extracted(
        usage=from_anthropic(usage),
        model=_text(field(response, "model")),
        request_id=_text(field(response, "id")),
    )


def from_gemini_response(response: Any) -> Extracted:
    """A generateContent response: google-genai's snake_case object or the REST camelCase JSON."""
    return Extracted(
        usage=from_gemini(_usage_of(response, "usage_metadata", "usageMetadata")),
        model=_text(field(response, "model_version", "modelVersion")),
        request_id=_text(field(response, "response_id", "responseId")),
    )


EXTRACTORS: Mapping[str, Callable[[Any], Extracted]] = {
    "openai": from_openai_response,
    "anthropic": from_anthropic_response,
    "gemini": from_gemini_response,
}
