"""The route table of the edge: every HTTP route, declared once."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from agents.super_agent.admin_plan_routes import PLAN_MAPPING_ROUTES
from agents.super_agent.alert_routes import ALERT_ROUTES
from agents.super_agent.auth_routes import AUTH_ROUTES
from agents.super_agent.budget_routes import BUDGET_ROUTES
from agents.super_agent.edge_deps import acting, deps
from agents.super_agent.operator_routes import OPERATOR_ROUTES
from agents.super_agent.price_routes import PRICE_ROUTES
from agents.super_agent.proxy_routes import PROXY_ROUTES
from agents.super_agent.team_routes import TEAM_ROUTES
from services.gateway import docs
from services.gateway.discovery import describe_mesh
from services.gateway.errors import HttpProblem
from services.gateway.mesh_api import canary_report, ping_agents, send_canary
from services.gateway.openapi import openapi_document
from services.gateway.route_table import PUBLIC, Call, Forward, Local, LocalHandler, Route
from services.identity import apikeys_api
from services.identity.principals import team_of
from services.ingest import intake
from services.ingest.otlp_ignored import IgnoredSignal
from services.webhooks.intake import MAX_WEBHOOK_BYTES, WebhookRejected, accept, receive
from shared.health import metrics_response
from shared.messages.agents import ALL_AGENTS
from shared.messages.envelope import ErrorCode
from shared.messages.github import WebhookAccepted
from shared.messages.identity import (
    ApiKeyInfo,
    ApiKeyList,
    ApiKeyRef,
    CreateApiKey,
    CreatedApiKey,
    ListApiKeys,
    PlanUsage,
)
from shared.messages.mesh import (
    CanaryAccepted,
    CanaryLookup,
    CanaryReport,
    CanaryRequest,
    MeshDescription,
    MeshPingRequest,
    MeshPingResponse,
)
from shared.messages.permissions import Permission
from shared.messages.registry import ANOMALIES_LIST, COSTS_QUERY, PING
from shared.messages.telemetry import IngestResult, TokenEventBatch


async def livez(_call: Call) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def readyz(call: Call) -> web.StreamResponse:
    checks = await deps(call).runtime.readiness()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503
    )


async def metrics(call: Call) -> web.StreamResponse:
    return await metrics_response(call.request)


async def openapi(call: Call) -> web.StreamResponse:
    return web.json_response(
        openapi_document(ROUTES, title="MachineNativeOps API", version=deps(call).runtime.version)
    )


async def home(call: Call) -> web.StreamResponse:
    return docs.home_page(deps(call).runtime.version)


async def api_docs(_call: Call) -> web.StreamResponse:
    return docs.docs_page()


async def api_docs_asset(call: Call) -> web.StreamResponse:
    return docs.asset(call.input.name)


async def mesh(call: Call) -> BaseModel:
    return await describe_mesh(deps(call).bus.nc)


async def mesh_ping(call: Call) -> BaseModel:
    return await ping_agents(deps(call).bus, call.input, call.ctx)


async def canary_send(call: Call) -> BaseModel:
    edge = deps(call)
    return await send_canary(
        edge.bus, call.input, call.ctx, stream=edge.runtime.settings.jetstream.events_stream
    )


async def canary_get(call: Call) -> BaseModel:
    return await canary_report(deps(call).bus, call.input.canary_id, call.ctx)


async def _webhook(call: Call, endpoint: Literal["app", "marketplace"]) -> BaseModel:
    edge = deps(call)
    secrets = edge.webhook_secrets[endpoint]
    if not secrets:
        raise HttpProblem(ErrorCode.NOT_FOUND, f"the {endpoint} webhook endpoint has no secret configured")
    request = call.request
    try:
        incoming = await receive(endpoint, request.headers, request.content, request.content_length, secrets)
    except WebhookRejected as rejected:
        raise HttpProblem(rejected.code, rejected.message) from rejected
    return await accept(edge.pool, edge.bus, incoming, call.ctx)


async def github_webhook(call: Call) -> BaseModel:
    return await _webhook(call, "app")


async def marketplace_webhook(call: Call) -> BaseModel:
    return await _webhook(call, "marketplace")


async def apikeys_list(call: Call) -> BaseModel:
    return await apikeys_api.list_keys(deps(call).pool, call.ctx.principal, call.input)


async def apikeys_create(call: Call) -> BaseModel:
    return await apikeys_api.create_key(deps(call).pool, acting(call), call.input)


async def apikeys_revoke(call: Call) -> BaseModel:
    revoked = await apikeys_api.revoke_key(deps(call).pool, acting(call), call.input)
    deps(call).api_keys.forget(revoked.key_id)
    return revoked


async def usage(call: Call) -> BaseModel:
    edge = deps(call)
    team_id = team_of(call.ctx.principal)
    async with edge.pool.acquire() as conn:
        return await edge.plans.describe(conn, team_id)


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


async def otlp_metrics(call: Call) -> web.StreamResponse:
    body, content_type = intake.ignored_otlp(
        call.request.headers.get("Content-Type", ""), IgnoredSignal.METRICS
    )
    return web.Response(body=body, content_type=content_type)


async def otlp_logs(call: Call) -> web.StreamResponse:
    body, content_type = intake.ignored_otlp(call.request.headers.get("Content-Type", ""), IgnoredSignal.LOGS)
    return web.Response(body=body, content_type=content_type)


HEALTH = ("health",)
WEBHOOKS = ("webhooks",)


def webhook_route(path: str, summary: str, handler: LocalHandler) -> Route:
    """A signed webhook endpoint: public (the signature authenticates), its body (up to GitHub's cap)
    verified as it streams in, JSON or form-encoded."""
    return Route(
        "POST",
        path,
        summary,
        PUBLIC,
        Local(handler),
        response=WebhookAccepted,
        status=202,
        tags=WEBHOOKS,
        raw_body=True,
        streamed_body=True,
        max_body_bytes=MAX_WEBHOOK_BYTES,
        extra_status=(400, 401, 404, 413, 415, 503, 504),
    )


IDENTITY = ("identity",)
MESH = ("mesh",)
OBSERVABILITY = ("observability",)
# 1,000 events with tags and long model names stay well inside this.
TOKEN_EVENTS_MAX_BYTES = 4 * 1024 * 1024

ROUTES: list[Route] = [
    Route("GET", "/livez", "Liveness: the process answers.", PUBLIC, Local(livez), tags=HEALTH),
    Route(
        "GET",
        "/readyz",
        "Readiness: bus connected, stores reachable.",
        PUBLIC,
        Local(readyz),
        tags=HEALTH,
        extra_status=(503,),
    ),
    Route(
        "GET",
        "/metrics",
        "Prometheus metrics of the edge process.",
        PUBLIC,
        Local(metrics),
        tags=HEALTH,
        media_type="text/plain",
    ),
    Route("GET", "/api/v1/openapi.json", "This document.", PUBLIC, Local(openapi), tags=("meta",)),
    Route(
        "GET",
        docs.HOME_PATH,
        "The edge's home page: links to the API reference and the OpenAPI document.",
        PUBLIC,
        Local(home),
        tags=("meta",),
        media_type="text/html",
    ),
    Route(
        "GET",
        docs.DOCS_PATH,
        "The API reference, rendered from the OpenAPI document (every asset served from here).",
        PUBLIC,
        Local(api_docs),
        tags=("meta",),
        media_type="text/html",
        extra_status=(404,),
    ),
    Route(
        "GET",
        docs.ASSETS_PATH + "/{name}",
        "A file of the API reference's renderer (Swagger UI, from the swagger-ui-py package).",
        PUBLIC,
        Local(api_docs_asset),
        request=docs.DocsAsset,
        tags=("meta",),
        media_type="application/octet-stream",
        extra_status=(404,),
    ),
    Route(
        "GET",
        "/api/v1/mesh",
        "Every agent's micro-service info, discovered through $SRV.INFO.",
        Permission.MESH_READ,
        Local(mesh),
        response=MeshDescription,
        tags=MESH,
    ),
    Route(
        "POST",
        "/api/v1/mesh/ping",
        "Ping agents through the mesh; round trip per agent.",
        Permission.MESH_READ,
        Local(mesh_ping),
        request=MeshPingRequest,
        response=MeshPingResponse,
        tags=MESH,
    ),
    Route(
        "POST",
        "/api/v1/mesh/canaries",
        "Publish a canary event every agent consumes durably.",
        Permission.MESH_WRITE,
        Local(canary_send),
        request=CanaryRequest,
        response=CanaryAccepted,
        status=202,
        tags=MESH,
        extra_status=(503, 504),
    ),
    Route(
        "GET",
        "/api/v1/mesh/canaries/{canary_id}",
        "Which agents processed a canary, and how often it was delivered.",
        Permission.MESH_READ,
        Local(canary_get),
        request=CanaryLookup,
        response=CanaryReport,
        tags=MESH,
    ),
    webhook_route(
        "/webhooks/github", "GitHub App webhook deliveries (github.webhook_secrets).", github_webhook
    ),
    webhook_route(
        "/webhooks/github/marketplace",
        "GitHub Marketplace listing webhook deliveries (github.marketplace_webhook_secrets).",
        marketplace_webhook,
    ),
    Route(
        "GET",
        "/api/v1/apikeys",
        "Your team's API keys (never their secrets).",
        Permission.APIKEYS_READ,
        Local(apikeys_list),
        request=ListApiKeys,
        response=ApiKeyList,
        tags=IDENTITY,
    ),
    Route(
        "POST",
        "/api/v1/apikeys",
        "Create an API key for your team; its token is shown once.",
        Permission.APIKEYS_CREATE,
        Local(apikeys_create),
        request=CreateApiKey,
        response=CreatedApiKey,
        status=201,
        tags=IDENTITY,
    ),
    Route(
        "DELETE",
        "/api/v1/apikeys/{key_id}",
        "Revoke one of your team's API keys.",
        Permission.APIKEYS_REVOKE,
        Local(apikeys_revoke),
        request=ApiKeyRef,
        response=ApiKeyInfo,
        tags=IDENTITY,
        extra_status=(404,),
    ),
    Route(
        "GET",
        "/api/v1/usage",
        "Your account's plan, its limits and features, and current usage.",
        Permission.USAGE_READ,
        Local(usage),
        response=PlanUsage,
        tags=IDENTITY,
    ),
    Route(
        "POST",
        "/api/v1/token-events",
        "Report LLM calls (up to 1,000 per request). Each event is validated on its own (token counts are "
        "JSON integers, never strings or booleans): invalid ones and those a budget's hard limit refuses are "
        "reported by index and id, valid ones accepted (stored durably before the answer). A resent id "
        "counts once; it is answered in `duplicate_ids` when the edge recognises it (the same batch within "
        "2 minutes, or an id your budgets counted in the last 7 days), else as accepted and dropped when "
        "stored. 429 when hard limits refuse every event (Retry-After: the period's end); 422 when every "
        "refusal is for a model without a price.",
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
        "OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer mno_...'.",
        Permission.TOKEN_EVENTS_WRITE,
        Local(otlp_traces),
        tags=OBSERVABILITY,
        media_type="application/x-protobuf",
        raw_body=True,
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
            raw_body=True,
            max_body_bytes=TOKEN_EVENTS_MAX_BYTES,
            extra_status=(413, 415),
        )
        for signal, handler in ((IgnoredSignal.METRICS, otlp_metrics), (IgnoredSignal.LOGS, otlp_logs))
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
    *PRICE_ROUTES,
    Route(
        "GET",
        "/api/v1/anomalies",
        "Hours in which a model's spend or token rate left its own seasonal baseline (robust z-score).",
        Permission.COSTS_READ,
        Forward(ANOMALIES_LIST),
        tags=OBSERVABILITY,
        feature="anomaly_detection",
    ),
    *BUDGET_ROUTES,
    *AUTH_ROUTES,
    *TEAM_ROUTES,
    *ALERT_ROUTES,
    *OPERATOR_ROUTES,
    *PLAN_MAPPING_ROUTES,
    *PROXY_ROUTES,
    *(
        Route(
            "POST",
            f"/api/v1/mesh/{agent.value}/ping",
            f"Ping the {agent.value} agent (forwarded over NATS).",
            Permission.MESH_READ,
            Forward(PING[agent]),
            tags=MESH,
        )
        for agent in ALL_AGENTS
    ),
]
