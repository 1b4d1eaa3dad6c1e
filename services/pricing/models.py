"""The normalised token usage of one LLM call, and the price computed for it.

Providers count tokens differently; these are the documented `usage` shapes we normalise from:

* OpenAI Chat Completions: ``prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens``;
  ``completion_tokens`` *includes* ``completion_tokens_details.reasoning_tokens``. The Responses API
  has the same semantics under ``input_tokens`` / ``input_tokens_details.cached_tokens`` and
  ``output_tokens`` / ``output_tokens_details.reasoning_tokens``. OpenAI bills no cache writes.
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
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

USD_QUANTUM = Decimal("1e-12")
TOKENS_PER_MTOK = Decimal(1_000_000)


def quantize_usd(amount: Decimal) -> Decimal:
    """Round an exact USD amount to 1e-12 USD, half to even; applied once, to final amounts only."""
    return amount.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Usage:
    """Billable tokens of one call, in disjoint buckets (see the module docstring).

    A plain dataclass, not a pydantic model: every ingested event makes one, and the checks below
    cost a fifth of a model's validation. Counts must be non-negative ints (bool is refused)."""

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


@dataclass(frozen=True, slots=True)
class Price:
    """The price of one call in USD. Parts are rounded individually, `total` is the exact sum rounded
    once; `total` can exceed the sum of the parts only by charges that are neither input nor output
    tokens (e.g. a per-request fee in the price data). Made by price sources only, from Decimals."""

    total: Decimal
    input: Decimal  # uncached input tokens
    output: Decimal  # output and reasoning tokens
    cache_read: Decimal
    cache_write: Decimal  # all cache writes, 5-minute and 1-hour
    price_version: str  # which price source, version and model/price entry was used
    tier: str | None = None  # price tier applied, e.g. ">200k input"
    currency: Literal["USD"] = "USD"
    # The model as the source knows it (e.g. genai-prices' `gpt-4o-mini` for `gpt-4o-mini-2024-07-18`):
    # what costs are grouped by. None when the source prices the name as given.
    model: str | None = None


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


def from_openai(usage: Mapping[str, Any]) -> Usage:
    """Normalise an OpenAI `usage` object (Chat Completions or Responses API shape)."""
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt = _count(usage, "prompt_tokens")
        completion = _count(usage, "completion_tokens")
        cached = _count(_sub(usage, "prompt_tokens_details"), "cached_tokens")
        reasoning = _count(_sub(usage, "completion_tokens_details"), "reasoning_tokens")
    else:
        prompt = _count(usage, "input_tokens")
        completion = _count(usage, "output_tokens")
        cached = _count(_sub(usage, "input_tokens_details"), "cached_tokens")
        reasoning = _count(_sub(usage, "output_tokens_details"), "reasoning_tokens")
    return Usage(
        input_tokens=_part_of(prompt, cached, "prompt tokens", "cached tokens"),
        cache_read_tokens=cached,
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
