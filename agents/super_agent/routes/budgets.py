"""Routes of budgets (`BUDGET_ROUTES`): the MonitoringAgent owns them; writes are audited here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from services.gateway.route_table import Call, Forward, Local, Route
from services.identity.plan_features import team_has_feature
from shared.entitlements import FORECASTS
from shared.messages.budgets import (
    BudgetInfo,
    BudgetLookup,
    BudgetRef,
    CreateBudget,
    DeletedBudget,
    UpdateBudget,
)
from shared.messages.permissions import Permission
from shared.messages.registry import (
    BUDGET_CREATE,
    BUDGET_DELETE,
    BUDGET_GET,
    BUDGET_LIST,
    BUDGET_UPDATE,
    Endpoint,
)
from shared.principals import team_of

BUDGETS = ("budgets",)


async def _forward_audited(
    call: Call, endpoint: Endpoint[Any, Any], action: str, before: Any = None
) -> BaseModel:
    """Ask the MonitoringAgent, then record the change in the team's audit log; this edge's set of
    teams with budgets counts the team at once (every replica follows the agent's notice)."""
    edge = deps(call)
    principal = call.ctx.principal
    assert principal is not None
    team_id = team_of(principal)
    result: BaseModel = await edge.bus.request(endpoint, call.input, call.ctx)
    edge.intake.budgets.written(team_id)
    resource_id = getattr(result, "id", None) or getattr(result, "budget_id", None)
    async with edge.pool.acquire() as conn, conn.transaction():
        await acting(call).record(
            conn, team_id, action, "budget", resource_id, before=before, after=result.model_dump(mode="json")
        )
    return result


async def _current(call: Call, budget_id: str) -> dict[str, Any]:
    lookup = BudgetLookup(budget_id=budget_id, forecast=False)  # the audit's "before": no model fit
    found: BudgetInfo = await deps(call).bus.request(BUDGET_GET, lookup, call.ctx)
    return found.model_dump(mode="json", exclude={"forecast"})


async def get_budget(call: Call) -> BaseModel:
    """A budget; its forecast only when the team's plan includes forecasts (otherwise `forecast` is
    null and no model is fitted: the budget itself is every plan's)."""
    edge = deps(call)
    lookup: BudgetLookup = call.input
    if lookup.forecast:
        principal = call.ctx.principal
        assert principal is not None
        async with edge.pool.acquire() as conn:
            entitled = await team_has_feature(conn, edge.plans, team_of(principal), FORECASTS)
        if not entitled:
            lookup = lookup.model_copy(update={"forecast": False})
    found: BudgetInfo = await edge.bus.request(BUDGET_GET, lookup, call.ctx)
    return found


async def create_budget(call: Call) -> BaseModel:
    return await _forward_audited(call, BUDGET_CREATE, "budgets.create")


async def update_budget(call: Call) -> BaseModel:
    before = await _current(call, call.input.budget_id)
    return await _forward_audited(call, BUDGET_UPDATE, "budgets.update", before)


async def delete_budget(call: Call) -> BaseModel:
    before = await _current(call, call.input.budget_id)
    return await _forward_audited(call, BUDGET_DELETE, "budgets.delete", before)


BUDGET_ROUTES: list[Route] = [
    Route(
        "GET",
        "/api/v1/budgets",
        "Your team's budgets with this period's spend.",
        Permission.BUDGETS_READ,
        Forward(BUDGET_LIST),
        tags=BUDGETS,
    ),
    Route(
        "POST",
        "/api/v1/budgets",
        "Create a budget: amount per day/week/month or rolling window, for the team or one project, user, "
        "model or API key; alert thresholds; an optional hard limit that makes ingest answer 429.",
        Permission.BUDGETS_WRITE,
        Local(create_budget),
        request=CreateBudget,
        response=BudgetInfo,
        status=201,
        tags=BUDGETS,
        extra_status=(409,),
    ),
    Route(
        "GET",
        "/api/v1/budgets/{budget_id}",
        "A budget: spend, remaining, and the forecast of the period's end (with its interval) when the "
        "plan includes forecasts (null otherwise).",
        Permission.BUDGETS_READ,
        Local(get_budget),
        request=BudgetLookup,
        response=BudgetInfo,
        tags=BUDGETS,
        extra_status=(404, 503, 504),
    ),
    Route(
        "PATCH",
        "/api/v1/budgets/{budget_id}",
        "Change a budget's name, amount, thresholds or hard limit.",
        Permission.BUDGETS_WRITE,
        Local(update_budget),
        request=UpdateBudget,
        response=BudgetInfo,
        tags=BUDGETS,
        extra_status=(404,),
    ),
    Route(
        "DELETE",
        "/api/v1/budgets/{budget_id}",
        "Delete a budget.",
        Permission.BUDGETS_WRITE,
        Local(delete_budget),
        request=BudgetRef,
        response=DeletedBudget,
        tags=BUDGETS,
        extra_status=(404,),
    ),
]
