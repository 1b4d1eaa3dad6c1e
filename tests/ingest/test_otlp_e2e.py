"""OpenTelemetry's own OTLP/HTTP exporter reporting GenAI spans to the real edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from tests.fixtures.mesh import MeshLauncher
from tests.ingest.test_token_events_e2e import costs_when


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[MeshLauncher, str]]:
    launcher.start(AgentName.SUPER_AGENT)
    launcher.start(AgentName.MONITORING)
    pool: asyncpg.Pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield launcher, await ensure_local_admin(pool)
    finally:
        await pool.close()


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "checkout-bot"}))
    try:
        yield tracer_provider
    finally:
        tracer_provider.shutdown()


async def test_exported_genai_spans_become_priced_token_events(
    edge: tuple[MeshLauncher, str], provider: TracerProvider
) -> None:
    """A gzip'd protobuf export: the GenAI span is priced (cache read split off), other spans ignored."""
    launcher, token = edge
    exporter = OTLPSpanExporter(
        endpoint=f"{launcher.edge_url}/v1/traces",
        headers={"Authorization": f"Bearer {token}"},
        compression=Compression.Gzip,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handle request"):
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.provider.name", "openai")
            span.set_attribute("gen_ai.request.model", "gpt-4o")
            span.set_attribute("gen_ai.usage.input_tokens", 1200)  # includes the 200 cached
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", 200)
            span.set_attribute("gen_ai.usage.output_tokens", 100)
            span.set_attribute("user.id", "ana")
    # SimpleSpanProcessor exports synchronously; give it its own thread, not the loop.
    await asyncio.to_thread(provider.force_flush)
    report = await costs_when(launcher, token, 1, group_by="project")
    assert report["totals"]["events"] == 1
    assert report["groups"][0]["key"] == {"project": "checkout-bot"}
    assert report["totals"]["input_tokens"] == 1000
    assert report["totals"]["cache_read_tokens"] == 200
    # gpt-4o: 1,000 x $2.50 + 200 x $1.25 + 100 x $10 per MTok
    assert report["totals"]["cost_usd"] == "0.00375"


async def test_unmappable_genai_spans_come_back_as_partial_success(edge: tuple[MeshLauncher, str]) -> None:
    """OTLP/JSON with a negative token count: 200 with partial_success naming one rejected span."""
    launcher, token = edge
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "-5"}},
        ],
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{launcher.edge_url}/v1/traces", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status == 200
            answer = await response.json()
        assert answer["partialSuccess"]["rejectedSpans"] in (1, "1")
        async with http.post(
            f"{launcher.edge_url}/v1/traces",
            data=b"\x00not protobuf",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"},
        ) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "bad_request"
        async with http.post(
            f"{launcher.edge_url}/v1/traces",
            data=ExportTraceServiceResponse().SerializeToString(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        ) as response:
            assert response.status == 415


def _json_span(trace: str, span: str, attributes: dict[str, str | int], name: str = "chat") -> dict[str, Any]:
    start = int(datetime.now(UTC).timestamp() * 1_000_000_000)
    return {
        "traceId": trace,
        "spanId": span,
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 800_000_000),
        "attributes": [
            {
                "key": key,
                "value": {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value},
            }
            for key, value in attributes.items()
        ],
    }


def _export(*scopes: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "dedup-bot"}}]},
                "scopeSpans": [{"scope": {"name": name}, "spans": spans} for name, spans in scopes],
            }
        ]
    }


async def _post_traces(http: aiohttp.ClientSession, launcher: MeshLauncher, token: str, body: object) -> Any:
    async with http.post(
        f"{launcher.edge_url}/v1/traces", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200, await response.text()
        return await response.json()


SDK_CALL: dict[str, str | int] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.id": "msg_e2e_dup",
    "gen_ai.usage.input_tokens": 4000,
    "gen_ai.usage.cache_read.input_tokens": 2000,
    "gen_ai.usage.cache_write.input_tokens": 1500,
    "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens": 500,
    "gen_ai.usage.output_tokens": 90,
}
TRACELOOP_CALL: dict[str, str | int] = {
    "gen_ai.system": "Anthropic",
    "llm.request.type": "completion",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.id": "msg_e2e_dup",
    "gen_ai.usage.input_tokens": 4000,
    "gen_ai.usage.output_tokens": 90,
    "llm.usage.total_tokens": 4090,
    "gen_ai.usage.cache_read_input_tokens": 2000,
    "gen_ai.usage.cache_creation_input_tokens": 1500,
}


async def test_one_call_from_two_libraries_is_billed_once_and_every_dropped_span_is_reported(
    edge: tuple[MeshLauncher, str],
) -> None:
    """Two spans of one Anthropic call (two traces, two libraries) store one event with the richer
    usage, in one export or across two; every other span comes back in partial_success and the metric."""
    launcher, token = edge
    first = _export(
        ("opentelemetry.instrumentation.anthropic", [_json_span("a1" * 16, "01" * 8, TRACELOOP_CALL)]),
        (
            "anthropic",
            [
                _json_span("b2" * 16, "02" * 8, SDK_CALL),
                _json_span("b2" * 16, "03" * 8, {"http.request.method": "POST"}, name="POST"),
                _json_span(
                    "b2" * 16,
                    "04" * 8,
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o",
                    },
                ),
            ],
        ),
    )
    # Later: Traceloop's span of the same call again (another export), and a new openai-v2 call.
    second = _export(
        ("opentelemetry.instrumentation.anthropic", [_json_span("c3" * 16, "05" * 8, TRACELOOP_CALL)]),
        (
            "opentelemetry.instrumentation.openai_v2",
            [
                _json_span(
                    "d4" * 16,
                    "06" * 8,
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.system": "openai",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 1000,
                        "gen_ai.usage.output_tokens": 100,
                    },
                )
            ],
        ),
    )
    async with aiohttp.ClientSession() as http:
        answer = await _post_traces(http, launcher, token, first)
        assert answer["partialSuccess"]["rejectedSpans"] in (3, "3")
        message = answer["partialSuccess"]["errorMessage"]
        for reason in ("1 duplicate_call", "1 not_genai", "1 no_usage"):
            assert reason in message
        await costs_when(launcher, token, 1)
        answer = await _post_traces(http, launcher, token, second)
        assert "partialSuccess" not in answer  # the edge cannot know the call was stored before
        report = await costs_when(launcher, token, 2, group_by="provider")
        async with http.get(f"{launcher.started[0].metrics_url}/metrics") as response:
            metrics = await response.text()
    assert report["totals"]["events"] == 2
    anthropic = next(g["totals"] for g in report["groups"] if g["key"] == {"provider": "anthropic"})
    assert anthropic["events"] == 1
    assert (anthropic["input_tokens"], anthropic["cache_read_tokens"]) == (500, 2000)
    assert (anthropic["cache_write_tokens"], anthropic["cache_write_1h_tokens"]) == (1000, 500)
    assert 'mno_otlp_spans_dropped_total{library="other",reason="not_genai"} 1.0' in metrics
    assert 'mno_otlp_spans_dropped_total{library="traceloop",reason="duplicate_call"} 1.0' in metrics


@pytest.mark.parametrize("signal", ["metrics", "logs"])
async def test_metrics_and_logs_exports_are_accepted_and_ignored(
    edge: tuple[MeshLauncher, str], signal: str
) -> None:
    """/v1/metrics and /v1/logs answer OTLP's success shape (protobuf and JSON), 415 for other types."""
    launcher, token = edge
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{launcher.edge_url}/v1/{signal}"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"resourceMetrics": []}, headers=auth) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            assert await response.json() == {}
        protobuf = {**auth, "Content-Type": "application/x-protobuf"}
        async with http.post(url, data=b"\x0a\x00", headers=protobuf) as response:
            assert response.status == 200
            assert response.content_type == "application/x-protobuf"
            assert await response.read() == b""
        async with http.post(url, data=b"x", headers={**auth, "Content-Type": "text/plain"}) as response:
            assert response.status == 415
            assert (await response.json())["error"]["code"] == "unsupported_media_type"
        async with http.post(url, json={}) as response:
            assert response.status == 401
