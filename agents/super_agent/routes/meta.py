"""Health, metrics and the API's own documents: the routes every process-watcher and newcomer hits first."""

from __future__ import annotations

from aiohttp import web

from agents.super_agent.edge_deps import deps
from services.gateway import docs
from services.gateway.edge import ROUTE_TABLE
from services.gateway.openapi import openapi_document
from services.gateway.route_table import PUBLIC, Call, Local, Route
from shared.health import metrics_response

HEALTH = ("health",)


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
    routes = call.request.app[ROUTE_TABLE]
    return web.json_response(
        openapi_document(routes, title="MachineNativeOps API", version=deps(call).runtime.version)
    )


async def home(call: Call) -> web.StreamResponse:
    return docs.home_page(deps(call).runtime.version)


async def api_docs(_call: Call) -> web.StreamResponse:
    return docs.docs_page()


async def api_docs_asset(call: Call) -> web.StreamResponse:
    return docs.asset(call.input.name)


META_ROUTES: list[Route] = [
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
        "The API's home page: links to the API reference, the OpenAPI document and the dashboard.",
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
]
