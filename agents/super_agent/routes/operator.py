"""Routes of the platform operator (`OPERATOR_ROUTES`): the webhook delivery ledger, subscriptions
with their history, installations, and reprocessing a failed delivery.

They read across every account, so they need `platform:read` / `platform:operate`, which no team
role holds: only the operator token (auth.bootstrap_token) reaches them; any team's credential
gets 403.
"""

from __future__ import annotations

import structlog
from pydantic import BaseModel

from agents.super_agent.edge_deps import deps
from services.gateway.route_table import Call, LocalHandler, Route, local_route
from services.identity import operator_api
from shared.messages.operator import (
    DeliveryDetail,
    DeliveryPage,
    DeliveryQuery,
    DeliveryRef,
    InstallationPage,
    InstallationQuery,
    Reprocessed,
    SubscriptionDetail,
    SubscriptionPage,
    SubscriptionQuery,
    SubscriptionRef,
)
from shared.messages.permissions import Permission

OPERATOR = ("operator",)

log = structlog.get_logger("mno.operator")


async def deliveries_list(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await operator_api.list_deliveries(conn, call.input)


async def delivery_get(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await operator_api.get_delivery(conn, call.input.delivery_id)


async def delivery_reprocess(call: Call) -> BaseModel:
    edge = deps(call)
    result = await operator_api.reprocess(edge.pool, edge.bus, call.input.delivery_id, call.ctx)
    # Operator actions belong to no team, so to no team's audit chain: the log line records them.
    log.info(
        "webhook delivery reprocessed by the operator", delivery_id=result.delivery_id, attempt=result.attempt
    )
    return result


async def subscriptions_list(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await operator_api.list_subscriptions(conn, call.input)


async def subscription_get(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await operator_api.get_subscription(conn, call.input.account_github_id)


async def installations_list(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await operator_api.list_installations(conn, call.input)


def _read(
    path: str, summary: str, handler: LocalHandler, request: type[BaseModel], response: type[BaseModel]
) -> Route:
    extra = (404,) if "{" in path else ()
    return local_route(
        "GET",
        path,
        summary,
        Permission.PLATFORM_READ,
        handler,
        tags=OPERATOR,
        request=request,
        response=response,
        extra=(*extra, 422),
    )


OPERATOR_ROUTES: list[Route] = [
    _read(
        "/api/v1/operator/webhook-deliveries",
        "Every webhook delivery received, newest first, by event, action, status and endpoint (operator).",
        deliveries_list,
        DeliveryQuery,
        DeliveryPage,
    ),
    _read(
        "/api/v1/operator/webhook-deliveries/{delivery_id}",
        "One webhook delivery with its payload, outcome and replays (operator).",
        delivery_get,
        DeliveryRef,
        DeliveryDetail,
    ),
    local_route(
        "POST",
        "/api/v1/operator/webhook-deliveries/{delivery_id}/reprocess",
        "Queue a new processing attempt of a failed webhook delivery (operator; 409 if not failed).",
        Permission.PLATFORM_OPERATE,
        delivery_reprocess,
        tags=OPERATOR,
        request=DeliveryRef,
        response=Reprocessed,
        status=202,
        extra=(404, 409, 503, 504),
    ),
    _read(
        "/api/v1/operator/subscriptions",
        "Marketplace subscriptions of every account, by status and plan (operator).",
        subscriptions_list,
        SubscriptionQuery,
        SubscriptionPage,
    ),
    _read(
        "/api/v1/operator/subscriptions/{account_github_id}",
        "One account's subscription, its state and its history, newest first (operator).",
        subscription_get,
        SubscriptionRef,
        SubscriptionDetail,
    ),
    _read(
        "/api/v1/operator/installations",
        "GitHub App installations of every account, by status, with repository counts (operator).",
        installations_list,
        InstallationQuery,
        InstallationPage,
    ),
]
