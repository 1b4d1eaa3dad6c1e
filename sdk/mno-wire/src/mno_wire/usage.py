"""The normalised token usage of one LLM call: the buckets, and the normalisers from providers' shapes.

Shared by the SDK (which normalises responses where they are received) and the server (which prices
the buckets, and normalises what its proxy mode and OTLP intake read): the two cannot disagree.

Providers count tokens differently; these are the documented `usage` shapes we normalise from:

* OpenAI Chat Completions: ``prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens``;
  ``completion_tokens`` *includes* ``completion_tokens_details.reasoning_tokens``. The Responses API
  has the same semantics under ``input_tokens`` / ``input_tokens_details.cached_tokens`` and
  ``output_tokens`` / ``output_tokens_details.reasoning_tokens``. OpenAI bills no cache writes.
* OpenAI-shaped usage from other providers and proxies keeps that convention -- ``prompt_tokens``
  *includes* every cache read and cache write -- and names the cache counts its own way:
  reads as ``prompt_tokens_details.cached_tokens`` (OpenAI, xAI, vLLM, OpenRouter), top-level
  ``cache_read_input_tokens`` (LiteLLM, copying Anthropic), ``prompt_cache_hit_tokens`` (DeepSeek, whose
  ``prompt_cache_miss_tokens`` are the rest) or top-level ``cached_tokens`` (Moonshot); writes as
  top-level ``cache_creation_input_tokens`` (LiteLLM), ``prompt_tokens_details.cache_creation_tokens``
  or ``.cache_write_tokens`` (LiteLLM, OpenRouter), with LiteLLM's
  ``prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens`` saying how many of
  them were 1-hour writes (LiteLLM's Anthropic mapping adds reads and writes into ``prompt_tokens``).
  The Responses API shape takes the same keys under ``input_tokens_details``. Audio tokens
  (``*_tokens_details.audio_tokens``) are inside the prompt/completion totals and are priced as text
  (`Usage` has no audio bucket); predicted-output tokens are inside ``completion_tokens`` and billed as
  output, as OpenAI bills them.
* Anthropic Messages: ``input_tokens`` *excludes* ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens`` (each reported separately, either may be absent or null).
  ``cache_creation_input_tokens`` is the *total* of the writes to the 5-minute and the 1-hour cache;
  ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` split it (the 1-hour
  writes cost 2x the base input rate, the 5-minute ones 1.25x: docs.anthropic.com, "Pricing",
  prompt caching). ``output_tokens`` includes extended-thinking tokens, not reported separately.
* Gemini ``usageMetadata``: ``promptTokenCount`` *includes* ``cachedContentTokenCount``;
  ``candidatesTokenCount`` *excludes* ``thoughtsTokenCount``, which is billed as output;
  ``toolUsePromptTokenCount`` (tokens of tool-use prompts) is outside ``promptTokenCount`` and billed
  as input. Cache storage is billed per hour, not per call, so there is no per-call cache write.

Our `Usage` buckets are *disjoint*: every token is in exactly one of them, so summing
``bucket * rate`` never counts a token twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Usage", "from_anthropic", "from_gemini", "from_openai"]


@dataclass(frozen=True)
class Usage:
    """Billable tokens of one call, in disjoint buckets (see the module docstring).

    A plain dataclass, not a pydantic model: every ingested event makes one, and the checks below
    cost a fifth of a model's validation. Counts must be non-negative ints (bool is refused).
    No `slots=True`: that needs Python 3.10, and this package supports 3.9."""

    input_tokens: int = 0  # uncached input tokens only
    output_tokens: int = 0  # excluding reasoning tokens
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # cache writes of the default (5-minute) lifetime
    reasoning_tokens: int = 0  # billed as output
    cache_write_1h_tokens: int = 0  # cache writes of 1-hour lifetime (Anthropic), not in cache_write_tokens

    def __post_init__(self) -> None:
        for name, count in (
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("cache_read_tokens", self.cache_read_tokens),
            ("cache_write_tokens", self.cache_write_tokens),
            ("reasoning_tokens", self.reasoning_tokens),
            ("cache_write_1h_tokens", self.cache_write_1h_tokens),
        ):
            if type(count) is not int or count < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {count!r}")

    @property
    def total_input_tokens(self) -> int:
        """All prompt tokens: uncached + cache read + cache writes (what long-context tiers look at)."""
        cache_writes = self.cache_write_tokens + self.cache_write_1h_tokens
        return self.input_tokens + self.cache_read_tokens + cache_writes

    @property
    def total_output_tokens(self) -> int:
        """All billed output tokens: visible output + reasoning."""
        return self.output_tokens + self.reasoning_tokens


def _count(data: Mapping[str, Any] | None, *keys: str) -> int:
    """The first of `keys` present and not null in `data` as a non-negative int, else 0."""
    if not data:
        return 0
    for key in keys:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"usage field {key!r} must be a non-negative integer, got {value!r}")
        return value
    return 0


def _sub(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any] | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, Mapping):
            return value
    return None


def _part_of(whole: int, part: int, whole_name: str, part_name: str) -> int:
    if part > whole:
        raise ValueError(f"{part_name} ({part}) cannot exceed {whole_name} ({whole})")
    return whole - part


# OpenAI-shaped cache keys, in order of preference (a proxy may send the same count under two names:
# LiteLLM sends both `prompt_tokens_details.cached_tokens` and `cache_read_input_tokens`).
_CACHE_READ_DETAIL_KEYS = ("cached_tokens",)
_CACHE_READ_TOP_KEYS = ("cache_read_input_tokens", "prompt_cache_hit_tokens", "cached_tokens")
_CACHE_WRITE_DETAIL_KEYS = ("cache_creation_tokens", "cache_write_tokens")
_CACHE_WRITE_TOP_KEYS = ("cache_creation_input_tokens",)


def _first_present(*candidates: tuple[Mapping[str, Any] | None, tuple[str, ...]]) -> int:
    """The first count present (not null) under any of the keys of any of the mappings, else 0."""
    for data, keys in candidates:
        if data and any(data.get(key) is not None for key in keys):
            return _count(data, *keys)
    return 0


def from_openai(usage: Mapping[str, Any]) -> Usage:
    """Normalise an OpenAI-shaped `usage` object (Chat Completions or Responses API shape, from OpenAI
    or an OpenAI-compatible provider or proxy): cache reads and writes are parts of the prompt count,
    reasoning tokens part of the completion count (see the module docstring for every key read)."""
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt = _count(usage, "prompt_tokens")
        completion = _count(usage, "completion_tokens")
        prompt_details = _sub(usage, "prompt_tokens_details")
        completion_details = _sub(usage, "completion_tokens_details")
    else:
        prompt = _count(usage, "input_tokens")
        completion = _count(usage, "output_tokens")
        prompt_details = _sub(usage, "input_tokens_details")
        completion_details = _sub(usage, "output_tokens_details")
    if not prompt and usage.get("prompt_cache_miss_tokens") is not None:  # DeepSeek without a total
        prompt = _count(usage, "prompt_cache_miss_tokens") + _count(usage, "prompt_cache_hit_tokens")
    cached = _first_present((prompt_details, _CACHE_READ_DETAIL_KEYS), (usage, _CACHE_READ_TOP_KEYS))
    writes = _first_present((prompt_details, _CACHE_WRITE_DETAIL_KEYS), (usage, _CACHE_WRITE_TOP_KEYS))
    write_details = _sub(prompt_details or {}, "cache_creation_token_details") or _sub(
        usage, "cache_creation"
    )
    one_hour = _count(write_details, "ephemeral_1h_input_tokens")
    if not writes and one_hour:  # only the breakdown was sent
        writes = _count(write_details, "ephemeral_5m_input_tokens") + one_hour
    reasoning = _count(completion_details, "reasoning_tokens")
    return Usage(
        input_tokens=_part_of(prompt, cached + writes, "prompt tokens", "cache read + cache write tokens"),
        cache_read_tokens=cached,
        cache_write_tokens=_part_of(writes, one_hour, "cache write tokens", "1-hour cache write tokens"),
        cache_write_1h_tokens=one_hour,
        output_tokens=_part_of(completion, reasoning, "completion tokens", "reasoning tokens"),
        reasoning_tokens=reasoning,
    )


def from_anthropic(usage: Mapping[str, Any]) -> Usage:
    """Normalise an Anthropic Messages `usage` object (its input_tokens already exclude cache tokens).

    `cache_creation_input_tokens` is the total of all cache writes; the `cache_creation` breakdown,
    when present, says how many of them went to the 1-hour cache (priced higher)."""
    breakdown = _sub(usage, "cache_creation")
    one_hour = _count(breakdown, "ephemeral_1h_input_tokens")
    if usage.get("cache_creation_input_tokens") is not None:
        total_writes = _count(usage, "cache_creation_input_tokens")
    else:  # only the breakdown was sent
        total_writes = _count(breakdown, "ephemeral_5m_input_tokens") + one_hour
    return Usage(
        input_tokens=_count(usage, "input_tokens"),
        output_tokens=_count(usage, "output_tokens"),
        cache_read_tokens=_count(usage, "cache_read_input_tokens"),
        cache_write_tokens=_part_of(
            total_writes, one_hour, "cache_creation_input_tokens", "cache_creation.ephemeral_1h_input_tokens"
        ),
        cache_write_1h_tokens=one_hour,
    )


def from_gemini(usage_metadata: Mapping[str, Any]) -> Usage:
    """Normalise a Gemini `usageMetadata` object (REST camelCase or the Python SDK's snake_case)."""
    prompt = _count(usage_metadata, "promptTokenCount", "prompt_token_count")
    cached = _count(usage_metadata, "cachedContentTokenCount", "cached_content_token_count")
    tool_prompt = _count(usage_metadata, "toolUsePromptTokenCount", "tool_use_prompt_token_count")
    return Usage(
        input_tokens=_part_of(prompt, cached, "prompt tokens", "cached content tokens") + tool_prompt,
        cache_read_tokens=cached,
        output_tokens=_count(usage_metadata, "candidatesTokenCount", "candidates_token_count"),
        reasoning_tokens=_count(usage_metadata, "thoughtsTokenCount", "thoughts_token_count"),
    )
