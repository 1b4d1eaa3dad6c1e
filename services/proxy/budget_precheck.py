"""Hard budgets checked before a proxied call is forwarded: one whose scope covers the call and whose
period is spent refuses it (429 with Retry-After, the period's end) without reaching the provider.

The call's real cost is only known from its answer; it is admitted afterwards through the ingest path
like any reported call. So a pre-check can let calls in flight while the last room is taken, and those
may pass the amount (their events are then refused by admission and counted as unrecorded by the
proxy): the pre-check bounds the overshoot to the calls in flight, it cannot make it zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.ingest.budget_gate import BudgetGate
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.messages.budgets import BudgetInfo, ListBudgets, ScopeKind
from shared.messages.envelope import Principal
from shared.messages.permissions import Permission
from shared.messages.registry import BUDGET_LIST
from shared.principals import team_of


@dataclass(frozen=True, slots=True)
class CallScope:
    model: str | None
    project: str | None
    user: str | None
    api_key_id: str | None


@dataclass(frozen=True, slots=True)
class Exhausted:
    budget_id: str
    name: str
    retry_after_seconds: int


def covers(budget: BudgetInfo, scope: CallScope) -> bool:
    """Whether the budget counts a call of this scope (as admission's `BudgetRule.covers` decides)."""
    wanted = {
        ScopeKind.TEAM: None,
        ScopeKind.PROJECT: scope.project,
        ScopeKind.USER: scope.user,
        ScopeKind.MODEL: scope.model,
        ScopeKind.API_KEY: scope.api_key_id,
    }[budget.scope]
    return budget.scope is ScopeKind.TEAM or wanted == budget.scope_value


def exhausted_budget(budgets: Sequence[BudgetInfo], scope: CallScope, now: datetime) -> Exhausted | None:
    """The covering hard-limited budget whose period is spent (the one free again last, when several)."""
    blocking = [b for b in budgets if b.hard_limit and b.exhausted and covers(b, scope)]
    if not blocking:
        return None
    latest = max(blocking, key=lambda b: b.period_end)
    wait = max(1, math.ceil((latest.period_end - now).total_seconds()))
    return Exhausted(budget_id=latest.id, name=latest.name, retry_after_seconds=wait)


def _reading_budgets(principal: Principal) -> Principal:
    """The caller, allowed to read its own team's budgets for this check only (an ingest key need not
    hold budgets:read to be refused by a budget; nothing of the budgets but the refusal reaches it)."""
    if principal.permissions is None:
        return principal  # people: their roles decide, and every team role reads budgets
    return principal.model_copy(
        update={"permissions": (*principal.permissions, Permission.BUDGETS_READ.value)}
    )


async def precheck(gate: BudgetGate, bus: Bus, ctx: MessageContext, scope: CallScope) -> Exhausted | None:
    """None when the call may go; teams without budgets cost no round trip (the gate's cache)."""
    if not await gate.has_budgets(team_of(ctx.principal), ctx):
        return None
    reader = replace(ctx, principal=_reading_budgets(ctx.principal))
    listed = await bus.request(BUDGET_LIST, ListBudgets(), reader)
    return exhausted_budget(listed.budgets, scope, datetime.now(UTC))
