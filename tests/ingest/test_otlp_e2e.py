"""OpenTelemetry's own OTLP/HTTP exporter reporting GenAI spans to the real edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

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
