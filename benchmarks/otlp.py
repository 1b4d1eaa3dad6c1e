"""OTLP span reading, the edge's CPU per GenAI span: decode an export (protobuf), read each span the way its
library means its counts (services/ingest/otlp_genai.py), validate the events, beside peers measured in the
same run: protobuf parsing alone of the same bytes, and validation alone of the same events.

.venv/bin/python benchmarks/otlp.py [--spans 1000] [--runs 7]

Spans cycle through four libraries' shapes (Traceloop OpenAI, OpenInference Anthropic, OpenTelemetry
contrib Gemini, the anthropic SDK's own) plus one HTTP span per ten, which is dropped as not_genai.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from services.ingest import otlp_decode, otlp_genai
from services.ingest.token_events import validate_events

SHAPES: list[tuple[str, dict[str, Any]]] = [
    (
        "opentelemetry.instrumentation.openai",
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.prompt_tokens": 2006,
            "gen_ai.usage.completion_tokens": 300,
            "gen_ai.usage.cache_read_input_tokens": 1920,
            "llm.usage.total_tokens": 2306,
        },
    ),
    (
        "openinference.instrumentation.anthropic",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.model_name": "claude-sonnet-4-5",
            "llm.token_count.prompt": 3050,
            "llm.token_count.completion": 300,
            "llm.token_count.prompt_details.cache_read": 2000,
            "llm.token_count.prompt_details.cache_write": 1000,
        },
    ),
    (
        "opentelemetry.instrumentation.google_genai",
        {
            "gen_ai.system": "gemini",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
        },
    ),
    (
        "anthropic",
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 2000,
            "gen_ai.usage.cache_creation.input_tokens": 1000,
        },
    ),
]


def _value(value: Any) -> AnyValue:
    return AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=str(value))


def export(spans: int) -> bytes:
    """One export of `spans` spans, every tenth an HTTP span, the rest GenAI spans in four shapes."""
    now = time.time_ns()
    scopes: dict[str, list[Span]] = {}
    for n in range(spans):
        scope, attributes = ("opentelemetry.instrumentation.requests", {"http.method": "GET"})
        if n % 10:
            scope, attributes = SHAPES[n % len(SHAPES)]
            attributes = {**attributes, "gen_ai.response.id": f"resp-{n}"}
        scopes.setdefault(scope, []).append(
            Span(
                trace_id=os.urandom(16),
                span_id=os.urandom(8),
                name="chat",
                start_time_unix_nano=now - 2_000_000_000,
                end_time_unix_nano=now - 1_000_000_000,
                attributes=[KeyValue(key=k, value=_value(v)) for k, v in attributes.items()],
            )
        )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="bench"))]
                ),
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name=name), spans=group)
                    for name, group in scopes.items()
                ],
            )
        ]
    )
    data: bytes = request.SerializeToString()
    return data


def timed(runs: int, work: Any) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    body = export(args.spans)
    now = datetime.now(UTC)
    mapping = otlp_genai.spans_to_events(
        otlp_decode.decode_request(body, "application/x-protobuf", None), now=now
    )
    events = [event.model_dump() for _, event in mapping.events]

    def parse_only() -> None:
        ExportTraceServiceRequest.FromString(body)

    def read() -> None:
        request = otlp_decode.decode_request(body, "application/x-protobuf", None)
        otlp_genai.spans_to_events(request, now=now)

    def validate_only() -> None:
        validate_events(events, now)

    def whole() -> None:
        request = otlp_decode.decode_request(body, "application/x-protobuf", None)
        found = otlp_genai.spans_to_events(request, now=now)
        validate_events([event.model_dump() for _, event in found.events], now)

    print(
        f"one export: {args.spans} spans ({len(body):,} bytes), {len(events)} token events, "
        f"{len(mapping.dropped)} dropped; median of {args.runs} runs"
    )
    for label, work in (
        ("peer: protobuf parse only", parse_only),
        ("decode + read spans", read),
        ("peer: event validation only", validate_only),
        ("decode + read + validate", whole),
    ):
        median = statistics.median(timed(args.runs, work))
        print(
            f"  {label:<30} {median * 1000:8.2f} ms  {median / args.spans * 1e6:7.2f} µs/span  "
            f"{args.spans / median:>10,.0f} spans/s"
        )


if __name__ == "__main__":
    main()
