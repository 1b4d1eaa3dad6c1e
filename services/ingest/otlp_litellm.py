"""LiteLLM's `metadata.usage_object` span attribute → the counts its `gen_ai.usage.*` leave out (pure).

LiteLLM's OTel callback sends OpenAI-shaped ``gen_ai.usage.input_tokens`` (prompt tokens, cache
included) and ``output_tokens`` with no cache or reasoning split, but it also sets every key of its
standard logging metadata as ``metadata.<key>``, and ``usage_object`` is the whole usage it computed:
``prompt_tokens_details.cached_tokens`` (or Anthropic's ``cache_read_input_tokens``),
``cache_creation_input_tokens`` with ``prompt_tokens_details.cache_creation_token_details`` (the
1-hour writes), ``completion_tokens_details.reasoning_tokens``. Its value is ``str(dict)`` (a Python
repr: single quotes, ``None``) in LiteLLM 1.x, JSON in other versions, so both are read; anything
else, or an object whose prompt/completion counts disagree with the span's, is ignored: the span is
then read from its ``gen_ai.usage.*`` alone, never failed.

A stream without usage (OpenAI's ``stream_options.include_usage`` unset) gets counts from LiteLLM's
own tokenizer. Nothing on the span says so, but the object shows it: a streamed call (``llm.is_streaming``)
whose usage has no ``prompt_tokens_details`` at all, which every provider usage LiteLLM passes through
has (OpenAI sends it; LiteLLM builds it for Anthropic). Those counts are flagged estimated.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from services.ingest.otlp_usage import Reported

USAGE_OBJECT: Final = "metadata.usage_object"
# A usage object is under 1 KiB; past this the attribute is something else (and not worth parsing).
MAX_USAGE_OBJECT_CHARS: Final = 16_384


@dataclass(frozen=True, slots=True)
class LitellmUsage:
    """The counts LiteLLM's usage object adds to a span's, and whether its tokenizer made them."""

    reported: Reported
    tokenized: bool


def parse_usage_object(text: str) -> Mapping[str, object] | None:
    """The usage object as a mapping (JSON or a Python literal), or None when it is neither."""
    if not text or len(text) > MAX_USAGE_OBJECT_CHARS:
        return None
    # literal_eval builds literals only (no names, calls or operators but complex numbers); in
    # either parser deep nesting or huge numbers raise, which is the same "not a usage object".
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed: object = parse(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        return parsed if isinstance(parsed, dict) else None
    return None


def _count(mapping: object, *path: str) -> int | None:
    value: object = mapping
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _first(*counts: int | None) -> int | None:
    return next((count for count in counts if count is not None), None)


def refine(reported: Reported, usage_object: str | None, *, streamed: bool) -> LitellmUsage:
    """`reported` (the span's own counts) completed from LiteLLM's usage object when it has one that
    describes the same call."""
    usage = parse_usage_object(usage_object) if usage_object else None
    if usage is None:
        return LitellmUsage(reported, tokenized=False)
    prompt = _count(usage, "prompt_tokens")
    completion = _count(usage, "completion_tokens")
    # Another call's usage (or a corrupted one) must not replace what the span says.
    for sent, seen in ((reported.input, prompt), (reported.output, completion)):
        if sent is not None and seen is not None and sent != seen:
            return LitellmUsage(reported, tokenized=False)
    details = usage.get("prompt_tokens_details")
    refined = replace(
        reported,
        input=_first(reported.input, prompt),
        output=_first(reported.output, completion),
        cache_read=_first(
            reported.cache_read,
            _count(details, "cached_tokens"),
            _count(usage, "cache_read_input_tokens"),
        ),
        cache_write=_first(
            reported.cache_write,
            _count(usage, "cache_creation_input_tokens"),
            _count(details, "cache_creation_tokens"),
            _count(details, "cache_write_tokens"),
        ),
        cache_write_1h=_first(
            reported.cache_write_1h,
            _count(details, "cache_creation_token_details", "ephemeral_1h_input_tokens"),
        ),
        reasoning=_first(reported.reasoning, _count(usage, "completion_tokens_details", "reasoning_tokens")),
        total=_first(reported.total, _count(usage, "total_tokens")),
    )
    return LitellmUsage(refined, tokenized=streamed and not isinstance(details, dict))
