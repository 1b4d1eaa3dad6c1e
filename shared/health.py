"""The small HTTP server every agent runs beside its bus work: /livez, /readyz and /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

ReadinessProbe = Callable[[], Awaitable[dict[str, bool]]]


async def metrics_response(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def health_app(readiness: ReadinessProbe) -> web.Application:
    async def livez(_request: web.Request) -> web.Response:
        # Alive means the event loop answers; dependencies belong to readiness, or a NATS outage
        # would make Kubernetes restart every pod at once.
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        checks = await readiness()
        ready = all(checks.values())
        return web.json_response(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503
        )

    app = web.Application()
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_response)
    return app
