"""Which library emitted a GenAI span, and what its counts mean for each provider (pure).

Read from each library's own source (the instrumentation scope names its tracer; a few attributes
only one library sets identify it when the scope does not):

- **OpenTelemetry contrib `openai-v2`** (scope ``opentelemetry.instrumentation.openai_v2``):
  ``gen_ai.usage.input_tokens`` = OpenAI's ``prompt_tokens`` (cached included), ``output_tokens`` =
  ``completion_tokens`` (reasoning included). It sends no cached count: cached input is stored as
  uncached input, flagged ``cache_read_tokens`` estimated (the cost is then an upper bound).
  Reasoning is priced as output, so leaving it inside the output changes no cost.
- **OpenTelemetry contrib `google-genai`** (scope ``opentelemetry.instrumentation.google_genai``):
  input = ``prompt_token_count`` (cached content included), output = ``candidates_token_count``
  (thoughts excluded), no total: thinking tokens cannot be known (flagged ``reasoning_tokens``),
  nor cached content unless a cache count is sent (flagged ``cache_read_tokens``).
- **OpenLLMetry / Traceloop** (scopes ``opentelemetry.instrumentation.{openai,anthropic,
  google_generativeai,...}``, or its ``llm.usage.total_tokens`` / ``llm.request.type``): Anthropic
  input = ``input_tokens + cache_read + cache_creation`` (inclusive), OpenAI ``prompt_tokens``
  (inclusive); Gemini output = ``candidates_token_count`` without the thoughts, but its
  ``llm.usage.total_tokens`` (``total_token_count``) holds them, so they are recovered exactly.
- **OpenLIT** (scopes ``openlit...``, resource ``telemetry.sdk.name=openlit``): Anthropic input is
  Anthropic's own ``input_tokens`` (cache excluded; its cost helper adds the cache on top); Gemini
  output is ``candidates_token_count`` with ``thoughts_token_count`` sent apart as
  ``gen_ai.usage.reasoning_tokens``; OpenAI counts are inclusive. Its
  ``gen_ai.client.token.usage`` is input + output only, not a total, so it is not read as one.
- **OpenInference / Arize** (``openinference.span.kind``, scopes ``openinference.instrumentation...``):
  ``llm.token_count.prompt`` includes cache reads and writes (Anthropic: ``input + cache_creation +
  cache_read``), ``completion`` the reasoning for OpenAI; Gemini's completion excludes thoughts
  and ``llm.token_count.total`` reveals them.
- **LiteLLM** (scope ``litellm``, ``gen_ai.cost.*`` attributes): OpenAI-shaped usage for every
  provider (``prompt_tokens`` includes cached and cache-write tokens), with no cache split on the
  span: cache reads and writes are stored as input and flagged estimated. Its ``gen_ai.cost.*``
  (LiteLLM's own price) only identifies it: prices are ours.
- Anything else follows the conventions (inclusive counts), checked against a total when one is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from services.ingest.otlp_usage import Reading


class Library(StrEnum):
    """Emitting libraries we know (the `library` label of the drop metric: a closed set)."""

    OTEL_OPENAI = "otel-openai-v2"
    OTEL_GOOGLE_GENAI = "otel-google-genai"
    TRACELOOP = "traceloop"
    OPENLIT = "openlit"
    OPENINFERENCE = "openinference"
    LITELLM = "litellm"
    OTHER = "other"


_TRACELOOP_SCOPES: Final = (
    "opentelemetry.instrumentation.openai",
    "opentelemetry.instrumentation.anthropic",
    "opentelemetry.instrumentation.google_generativeai",
    "opentelemetry.instrumentation.bedrock",
    "opentelemetry.instrumentation.cohere",
    "opentelemetry.instrumentation.mistralai",
    "opentelemetry.instrumentation.groq",
    "opentelemetry.instrumentation.ollama",
    "opentelemetry.instrumentation.together",
    "opentelemetry.instrumentation.watsonx",
)
_TRACELOOP_MARKERS: Final = ("llm.usage.total_tokens", "llm.request.type")


def _scoped(scope_name: str, prefix: str) -> bool:
    return scope_name == prefix or scope_name.startswith(prefix + ".")


def identify(scope_name: str, resource_sdk: str | None, span_keys: Mapping[str, object]) -> Library:
    """The library that emitted a span: by its scope name first, then by attributes only it sets."""
    name = scope_name.strip().lower()
    if _scoped(name, "opentelemetry.instrumentation.openai_v2"):
        return Library.OTEL_OPENAI
    if _scoped(name, "opentelemetry.instrumentation.google_genai"):
        return Library.OTEL_GOOGLE_GENAI
    if any(_scoped(name, scope) for scope in _TRACELOOP_SCOPES):
        return Library.TRACELOOP
    if _scoped(name, "openlit") or (resource_sdk or "").lower() == "openlit":
        return Library.OPENLIT
    if _scoped(name, "openinference.instrumentation") or "openinference.span.kind" in span_keys:
        return Library.OPENINFERENCE
    if _scoped(name, "litellm") or any(key.startswith("gen_ai.cost.") for key in span_keys):
        return Library.LITELLM
    if any(key in span_keys for key in _TRACELOOP_MARKERS):
        return Library.TRACELOOP
    return Library.OTHER


@dataclass(frozen=True, slots=True)
class Profile:
    """What one library's counts mean for one provider, and what it cannot report."""

    reading: Reading
    # Token fields the library never sends for this provider (when no attribute carries them).
    unreported: frozenset[str] = frozenset()
    # Total attributes that really are totals for this library (input + output + everything).
    reads_total: bool = True


_CONVENTIONS: Final = Profile(Reading())
_INCLUSIVE: Final = Reading(input_includes_cache=True, output_includes_reasoning=True)
_GEMINI_STYLE: Final = Reading(input_includes_cache=True, output_includes_reasoning=False)


def profile(library: Library, provider: str) -> Profile:
    """How to read `library`'s counts for `provider` (our provider id)."""
    gemini = provider == "gemini"
    if library is Library.OTEL_OPENAI:
        return Profile(_INCLUSIVE, frozenset({"cache_read_tokens"}))
    if library is Library.OTEL_GOOGLE_GENAI:
        return Profile(_GEMINI_STYLE, frozenset({"cache_read_tokens", "reasoning_tokens"}))
    if library is Library.TRACELOOP:
        return Profile(_GEMINI_STYLE if gemini else _INCLUSIVE)
    if library is Library.OPENLIT:
        if provider == "anthropic":
            return Profile(Reading(False, True), reads_total=False)
        return Profile(_GEMINI_STYLE if gemini else _INCLUSIVE, reads_total=False)
    if library is Library.OPENINFERENCE:
        return Profile(_GEMINI_STYLE if gemini else _INCLUSIVE)
    if library is Library.LITELLM:
        return Profile(_INCLUSIVE, frozenset({"cache_read_tokens", "cache_write_tokens"}))
    return _CONVENTIONS
