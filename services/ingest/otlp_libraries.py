"""Which library emitted a GenAI span, and what its counts mean for each provider (pure).

Read from each library's own source (the instrumentation scope names its tracer; a few attributes
only one library sets identify it when the scope does not):

- **OpenTelemetry contrib `openai-v2`** (scope ``opentelemetry.instrumentation.openai_v2``; from 2.x
  its spans come from ``opentelemetry-util-genai``, scope ``opentelemetry.util.genai.handler``):
  ``gen_ai.usage.input_tokens`` = OpenAI's ``prompt_tokens`` (cached included), ``output_tokens`` =
  ``completion_tokens`` (reasoning included). It sends no cached count: cached input is stored as
  uncached input, flagged ``cache_read_tokens`` estimated (the cost is then an upper bound).
  Reasoning is priced as output, so leaving it inside the output changes no cost.
- **OpenTelemetry contrib `google-genai`** (scope ``opentelemetry.instrumentation.google_genai``):
  input = ``prompt_token_count`` (cached content included). Since 1.3b0 the output is
  ``candidates_token_count + thoughts_token_count`` with the thoughts sent apart
  (``gen_ai.usage.reasoning.output_tokens``) and the cache read too; earlier versions sent the
  candidates alone and no thought or cache count (flagged ``reasoning_tokens``,
  ``cache_read_tokens`` when absent). Both read the same as inclusive counts.
- **OpenLLMetry / Traceloop** (scopes ``opentelemetry.instrumentation.{openai,anthropic,
  google_generativeai,...}``, or its ``llm.usage.total_tokens`` / ``llm.request.type``): Anthropic
  input = ``input_tokens + cache_read + cache_creation`` (inclusive), no 1-hour split (flagged
  ``cache_write_1h_tokens`` when there are writes), and a stream's output adds ``message_start``'s
  output count to ``message_delta``'s cumulative one (flagged ``output_tokens`` when
  ``gen_ai.is_streaming``); OpenAI ``prompt_tokens`` (inclusive; a chat stream sends no reasoning
  count, so it stays in the output, priced the same); Gemini (``google_generativeai``, which
  instruments google-genai) output = ``candidates_token_count`` without the thoughts, but
  ``gen_ai.usage.total_tokens`` (``total_token_count``) holds them, so they are recovered exactly.
- **OpenLIT** (scopes ``openlit...``, resource ``telemetry.sdk.name=openlit``): Anthropic input is
  Anthropic's own ``input_tokens`` (cache excluded; its cost helper adds the cache on top), no
  1-hour split, and in a stream the cache counts are overwritten with ``message_delta``'s (0 when
  it omits them: flagged when ``gen_ai.request.stream``); Gemini output is
  ``candidates_token_count`` with ``thoughts_token_count`` sent apart as
  ``gen_ai.usage.reasoning_tokens``; OpenAI counts are inclusive, but without usage (a stream
  without ``include_usage``) it counts input and output with its own tokenizer and sends no cache
  count: counts of an OpenAI span without ``gen_ai.usage.cache_read.input_tokens`` are flagged. Its
  ``gen_ai.client.token.usage`` is input + output only, not a total, so it is not read as one.
- **OpenInference / Arize** (``openinference.span.kind``, scopes ``openinference.instrumentation...``):
  ``llm.token_count.prompt`` includes cache reads and writes (Anthropic: ``input + cache_creation +
  cache_read``, no 1-hour split), ``completion`` the reasoning (OpenAI, Anthropic; Gemini since it
  sends ``completion_details.reasoning`` (1.4.x), before which the total revealed the thoughts).
- **LiteLLM** (scope ``litellm``, ``gen_ai.cost.*`` attributes): OpenAI-shaped usage for every
  provider (``prompt_tokens`` includes cached and cache-write tokens), with no cache split in
  ``gen_ai.usage.*``; the split (cache reads, writes with their 1-hour part, reasoning) is read from
  its ``metadata.usage_object`` (`services.ingest.otlp_litellm`), and only where that is missing are
  cache reads and writes stored as input and flagged estimated. A stream without usage is counted
  by LiteLLM's tokenizer: flagged. Its ``gen_ai.cost.*`` (LiteLLM's own price) only identifies it:
  prices are ours.
- **The anthropic SDK's own spans** (2.x, scope ``com.anthropic.sdk.python``, on whenever a tracer
  provider is set; ``ANTHROPIC_OPEN_TELEMETRY=false`` or ``open_telemetry=False`` turn them off):
  the conventions (input inclusive, ``gen_ai.usage.cache_write.input_tokens``,
  ``reasoning.output_tokens`` inside the output) and the 1-hour writes as
  ``anthropic.usage.cache_creation.ephemeral_1h_input_tokens``.
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
    OTEL_GENAI_UTIL = "otel-util-genai"  # contrib instrumentations built on opentelemetry-util-genai
    ANTHROPIC_SDK = "anthropic-sdk"
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
    if _scoped(name, "opentelemetry.util.genai"):
        return Library.OTEL_GENAI_UTIL
    if _scoped(name, "com.anthropic.sdk"):
        return Library.ANTHROPIC_SDK
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
    # Counts that are estimates when the span says the call streamed (the library's stream handling).
    streamed: frozenset[str] = frozenset()
    # Counts the library made up with its own tokenizer when the span has no cache-read count.
    tokenized_without_cache_read: frozenset[str] = frozenset()


_CONVENTIONS: Final = Profile(Reading())
_INCLUSIVE: Final = Reading(input_includes_cache=True, output_includes_reasoning=True)
_GEMINI_STYLE: Final = Reading(input_includes_cache=True, output_includes_reasoning=False)


def profile(library: Library, provider: str) -> Profile:
    """How to read `library`'s counts for `provider` (our provider id)."""
    gemini = provider == "gemini"
    # Libraries that send Anthropic's cache creation count without its 1-hour part.
    no_1h = frozenset({"cache_write_1h_tokens"}) if provider == "anthropic" else frozenset()
    if library is Library.OTEL_OPENAI:
        return Profile(_INCLUSIVE, frozenset({"cache_read_tokens"}))
    if library is Library.OTEL_GENAI_UTIL:
        return Profile(_INCLUSIVE, frozenset({"cache_read_tokens"}) if provider == "openai" else frozenset())
    if library is Library.OTEL_GOOGLE_GENAI:
        return Profile(_INCLUSIVE, frozenset({"cache_read_tokens", "reasoning_tokens"}))
    if library is Library.TRACELOOP:
        streamed = frozenset({"output_tokens"}) if provider == "anthropic" else frozenset()
        return Profile(_GEMINI_STYLE if gemini else _INCLUSIVE, no_1h, streamed=streamed)
    if library is Library.OPENLIT:
        if provider == "anthropic":
            lost = frozenset({"cache_read_tokens", "cache_write_tokens"})
            return Profile(Reading(False, True), no_1h, reads_total=False, streamed=lost)
        tokenized = frozenset({"input_tokens", "output_tokens"}) if provider == "openai" else frozenset()
        return Profile(
            _GEMINI_STYLE if gemini else _INCLUSIVE, reads_total=False, tokenized_without_cache_read=tokenized
        )
    if library is Library.OPENINFERENCE:
        # Its Gemini completion includes the thoughts since it sends them apart (1.4.x); before, it
        # excluded them and only the total revealed them: unknown, so the total decides.
        return Profile(Reading(True, None) if gemini else _INCLUSIVE, no_1h)
    if library is Library.LITELLM:
        return Profile(_INCLUSIVE, frozenset({"cache_read_tokens", "cache_write_tokens"}))
    return _CONVENTIONS
