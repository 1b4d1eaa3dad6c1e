"""Token events in (JSON API and OTLP) and spend out (costs, anomalies)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel

from agents.super_agent.edge_deps import deps
from services.gateway.route_table import Call, Forward, Local, RequestBody, Route
from services.ingest import intake, span_drops
from services.ingest.otlp_ignored import IgnoredSignal
from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.messages.registry import ANOMALIES_LIST, COSTS_QUERY
from shared.messages.telemetry import DroppedSpansQuery, DroppedSpansReport, IngestResult, TokenEventBatch
from shared.principals import team_of

OBSERVABILITY = ("observability",)
# 1,000 events with tags and long model names stay well inside this.
TOKEN_EVENTS_MAX_BYTES = 4 * 1024 * 1024


async def token_events(call: Call) -> BaseModel:
    return await intake.ingest(deps(call).intake, call.ctx, call.input.events)


async def otlp_traces(call: Call) -> web.StreamResponse:
    edge = deps(call)
    body, content_type = await intake.ingest_otlp(
        edge.intake,
        call.ctx,
        call.body or b"",
        call.request.headers.get("Content-Type", ""),
        None,  # aiohttp has already inflated a gzip/deflate body as it read it
    )
    return web.Response(body=body, content_type=content_type)


async def dropped_spans(call: Call) -> BaseModel:
    query: DroppedSpansQuery = call.input
    assert call.ctx.principal is not None  # COSTS_READ: never public
    try:
        since, until = span_drops.window(query.since, query.until, datetime.now(UTC))
    except span_drops.RangeError as error:
        raise AgentError(
            ErrorCode.VALIDATION_FAILED, str(error), [{"loc": "query", "message": str(error)}]
        ) from error
    return await span_drops.query(deps(call).intake.pool, team_of(call.ctx.principal), since, until)


async def otlp_metrics(call: Call) -> web.StreamResponse:
    body, content_type = intake.ignored_otlp(
        call.request.headers.get("Content-Type", ""), IgnoredSignal.METRICS
    )
    return web.Response(body=body, content_type=content_type)


async def otlp_logs(call: Call) -> web.StreamResponse:
    body, content_type = intake.ignored_otlp(call.request.headers.get("Content-Type", ""), IgnoredSignal.LOGS)
    return web.Response(body=body, content_type=content_type)


def _otlp_body(message: str) -> RequestBody:
    return RequestBody(
        f"An OTLP/HTTP {message} (opentelemetry-proto), binary protobuf or its JSON mapping; "
        "`Content-Encoding: gzip` allowed.",
        {"application/x-protobuf": None, "application/json": {"type": "object"}},
    )


TELEMETRY_ROUTES: list[Route] = [
    Route(
        "POST",
        "/api/v1/token-events",
        "Report LLM calls (up to 1,000 per request). Each event is validated on its own (token counts are "
        "JSON integers, never strings or booleans): invalid ones and those a budget's hard limit refuses are "
        "reported by index and id, valid ones accepted (stored durably before the answer). A resent id "
        "counts once; it is answered in `duplicate_ids` when the edge recognises it (the same batch within "
        "2 minutes, or an id your budgets counted in the last 7 days), else as accepted and dropped when "
        "stored. 429 when hard limits refuse every event (Retry-After: the period's end); 422 when every "
        "refusal is for a model without a price. 503 (with Retry-After) when nothing was accepted (the "
        "event stream or the team's budget check is unavailable). 504 with code `outcome_unknown` when "
        "the event stream did not confirm in time: the events may or may not have been stored, and "
        "retrying with the same ids is safe (ids are deduplicated; `details` gives each event's id by "
        "index, including ids the server assigned).",
        Permission.TOKEN_EVENTS_WRITE,
        Local(token_events),
        request=TokenEventBatch,
        response=IngestResult,
        tags=OBSERVABILITY,
        max_body_bytes=TOKEN_EVENTS_MAX_BYTES,
        extra_status=(402, 413, 429, 503, 504),
    ),
    Route(
        "POST",
        "/v1/traces",
        "OpenTelemetry OTLP/HTTP traces (protobuf or JSON, gzip allowed): model-call spans (gen_ai.* or "
        "OpenInference llm.* attributes, read per emitting library) become token events, one per provider "
        "call (id from the provider's response id, else trace id:span id); every other span is counted in "
        "partial_success with the reason. Send the API key as "
        "OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer mno_...'. A 504 `outcome_unknown` means the spans "
        "may or may not have been stored: resending them is safe (event ids come from the spans).",
        Permission.TOKEN_EVENTS_WRITE,
        Local(otlp_traces),
        tags=OBSERVABILITY,
        media_type="application/x-protobuf",
        other_media_types=("application/json",),  # OTLP answers in the request's encoding
        raw_body=True,
        body=_otlp_body("ExportTraceServiceRequest"),
        max_body_bytes=TOKEN_EVENTS_MAX_BYTES,
        extra_status=(400, 402, 413, 415, 503, 504),
    ),
    *(
        Route(
            "POST",
            f"/v1/{signal.value}",
            f"OpenTelemetry OTLP/HTTP {signal.value}: accepted and ignored (answered with OTLP's success "
            "shape, nothing stored), so exporters that send every signal to one endpoint (OpenLIT) log no "
            "failures. Token usage is read from the traces.",
            Permission.TOKEN_EVENTS_WRITE,
            Local(handler),
            tags=OBSERVABILITY,
            media_type="application/x-protobuf",
            other_media_types=("application/json",),
            raw_body=True,
            body=_otlp_body(f"Export{signal.value.capitalize()}ServiceRequest"),
            max_body_bytes=TOKEN_EVENTS_MAX_BYTES,
            extra_status=(413, 415),
        )
        for signal, handler in ((IgnoredSignal.METRICS, otlp_metrics), (IgnoredSignal.LOGS, otlp_logs))
    ),
    Route(
        "GET",
        "/api/v1/ingest/dropped-spans",
        "Your team's OTLP spans that became no token event, by reason and emitting library, counted "
        "by whole hour (default: the last 24 h; at most 31 days): each with an example span, and for "
        "the reasons that lose spend (no_usage, invalid, refused) what to do. Kept 30 days.",
        Permission.COSTS_READ,
        Local(dropped_spans),
        request=DroppedSpansQuery,
        response=DroppedSpansReport,
        tags=OBSERVABILITY,
    ),
    Route(
        "GET",
        "/api/v1/costs",
        "Your team's spend: exact totals, and a minute/hour/day time series grouped by project, user, "
        "provider, model, prompt version or a tag, with token counts and latency percentiles.",
        Permission.COSTS_READ,
        Forward(COSTS_QUERY),
        tags=OBSERVABILITY,
    ),
]

SPEND_ROUTES: list[Route] = [
    Route(
        "GET",
        "/api/v1/anomalies",
        "Hours in which a model's spend or token rate left its own seasonal baseline (robust z-score).",
        Permission.COSTS_READ,
        Forward(ANOMALIES_LIST),
        tags=OBSERVABILITY,
        feature="anomaly_detection",
    ),
]
