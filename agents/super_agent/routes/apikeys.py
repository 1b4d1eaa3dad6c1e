"""A team's API keys and its account's plan usage."""

from __future__ import annotations

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from services.gateway.route_table import Call, Local, Route
from services.identity import apikeys_api
from shared.messages.identity import (
    ApiKeyInfo,
    ApiKeyList,
    ApiKeyRef,
    CreateApiKey,
    CreatedApiKey,
    ListApiKeys,
    PlanUsage,
)
from shared.messages.permissions import Permission
from shared.principals import team_of

IDENTITY = ("identity",)


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


APIKEY_ROUTES: list[Route] = [
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
]
