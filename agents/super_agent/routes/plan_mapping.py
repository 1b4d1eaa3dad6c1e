"""The operator's view of the Marketplace plan mapping (`PLAN_MAPPING_ROUTES`): paid plans seen on
subscriptions that `accounts.marketplace_plans` does not map (`platform:read`, operator token only,
like the other `/api/v1/operator/` routes)."""

from __future__ import annotations

from pydantic import BaseModel

from agents.super_agent.edge_deps import deps
from services.gateway.route_table import Call, Route, local_route
from services.identity.subscriptions import unmapped_plan_ids
from shared.messages.permissions import Permission
from shared.messages.plan_mapping import UnmappedPlan, UnmappedPlans, UnmappedPlansQuery


async def unmapped_plans(call: Call) -> BaseModel:
    edge = deps(call)
    accounts = edge.runtime.settings.accounts
    mapping: dict[int | str, str] = {key: value for key, value in accounts.marketplace_plans.items()}
    async with edge.pool.acquire() as conn:
        found = await unmapped_plan_ids(conn, mapping)
    return UnmappedPlans(
        default_plan=accounts.default_plan,
        plans=[
            UnmappedPlan(plan_id=plan.plan_id, name=plan.name, price_model=plan.price_model.value)
            for plan in found
        ],
    )


PLAN_MAPPING_ROUTES: list[Route] = [
    local_route(
        "GET",
        "/api/v1/operator/marketplace-plans/unmapped",
        "Paid Marketplace plans seen on subscriptions that accounts.marketplace_plans does not map, "
        "so their accounts get the default plan (operator).",
        Permission.PLATFORM_READ,
        unmapped_plans,
        tags=("operator",),
        request=UnmappedPlansQuery,
        response=UnmappedPlans,
    ),
]
