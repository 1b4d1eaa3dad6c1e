"""Driver of the `instrumentations` venvs: OpenTelemetry contrib, OpenLLMetry (Traceloop), OpenInference
and the anthropic SDK's own spans. One process runs several libraries in turn (instrument, calls,
flush, uninstrument: `_harness.run_parts` checks each uninstrument removed its patches), so the
provider SDK and the OTel SDK are imported once, not once per library.

argv: stand-in provider URL, then `<library>:<row>` names (see tests/compat/rows.py), grouped by
library in the order given. The exporter is OpenTelemetry's OTLP/HTTP one, configured from
OTEL_EXPORTER_OTLP_ENDPOINT / _HEADERS as apps do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from _calls import calls_for
from _harness import Part, RowTagger, run_parts
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def instrumentor(library: str) -> Any:
    """The library's instrumentor (None for the anthropic SDK: a tracer provider is enough)."""
    if library == "otel-openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        return OpenAIInstrumentor()
    if library == "otel-google-genai":
        from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

        return GoogleGenAiSdkInstrumentor()
    if library == "traceloop-openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopOpenAI

        return TraceloopOpenAI()
    if library in ("traceloop-anthropic", "traceloop-anthropic-and-sdk"):
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        return AnthropicInstrumentor()
    if library == "traceloop-google-genai":
        from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor

        return GoogleGenerativeAiInstrumentor()
    if library == "openinference-openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceOpenAI

        return OpenInferenceOpenAI()
    if library == "openinference-anthropic":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as OpenInferenceAnthropic

        return OpenInferenceAnthropic()
    if library == "openinference-google-genai":
        from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor

        return GoogleGenAIInstrumentor()
    if library == "anthropic-sdk":
        return None
    raise SystemExit(f"unknown library {library}")


def part(library: str, rows: list[str], provider: str) -> Part:
    # The anthropic SDK's own spans are on whenever a tracer provider is set; a row of another library
    # switches them off (open_telemetry=False, as documented) unless it tests the two stacked.
    stacked = library in ("anthropic-sdk", "traceloop-anthropic-and-sdk")
    anthropic_options = {} if stacked else {"open_telemetry": False}

    def instrument() -> Callable[[], Any] | None:
        wrapper = instrumentor(library)
        if wrapper is None:
            return None
        wrapper.instrument()
        return wrapper.uninstrument

    return Part(library, rows, lambda: calls_for(rows, provider, **anthropic_options), instrument)


def main() -> None:
    provider, *named = sys.argv[1:]
    by_library: dict[str, list[str]] = {}
    for name in named:
        library, row = name.split(":", 1)
        by_library.setdefault(library, []).append(row)
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "compat"}))
    tracer_provider.add_span_processor(RowTagger())
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=60_000))
    trace.set_tracer_provider(tracer_provider)
    parts = [part(library, rows, provider) for library, rows in by_library.items()]
    run_parts(parts, tracer_provider.force_flush)
    tracer_provider.shutdown()


if __name__ == "__main__":
    main()
