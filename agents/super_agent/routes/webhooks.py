"""GitHub App and Marketplace webhook deliveries: verified as they stream in, recorded, applied."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from agents.super_agent.edge_deps import deps
from services.gateway.errors import HttpProblem
from services.gateway.route_table import PUBLIC, Call, Local, LocalHandler, RequestBody, Route
from services.webhooks.intake import MAX_WEBHOOK_BYTES, WebhookRejected, accept, receive
from shared.messages.envelope import ErrorCode
from shared.messages.github import WebhookAccepted

WEBHOOKS = ("webhooks",)


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
        body=RequestBody(
            "GitHub's webhook delivery as GitHub sends it: the event's payload, checked against "
            "X-Hub-Signature-256 (the app's webhook secret), named by X-GitHub-Event and X-GitHub-Delivery.",
            {"application/json": {"type": "object"}, "application/x-www-form-urlencoded": {"type": "object"}},
        ),
        extra_status=(400, 401, 404, 413, 415, 503, 504),
    )


WEBHOOK_ROUTES: list[Route] = [
    webhook_route(
        "/webhooks/github", "GitHub App webhook deliveries (github.webhook_secrets).", github_webhook
    ),
    webhook_route(
        "/webhooks/github/marketplace",
        "GitHub Marketplace listing webhook deliveries (github.marketplace_webhook_secrets).",
        marketplace_webhook,
    ),
]
