"""Which events a team's budgets admit, and which thresholds their spend crossed (pure).

Events are taken in request order: an event is admitted when every hard-limited budget it falls in
can take its cost within the amount; otherwise it is refused and counts nowhere. Budgets without a
hard limit count every admitted event. Greedy in order, so a cheap event after a refused costly one
may still fit — the amount is never passed either way. An event whose model has no price costs 0
here; a hard-limited budget that refuses unpriced calls refuses it whatever its room.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from services.budgets.periods import hour_of, period_bounds
from shared.messages.budgets import Period, RefusalReason, ScopeKind, UnpricedPolicy

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class BudgetRule:
    id: str
    name: str
    scope: ScopeKind
    scope_value: str
    amount: Decimal
    period: Period
    rolling_hours: int | None
    thresholds: tuple[int, ...]
    hard_limit: bool
    created_at: datetime | None = None
    unpriced: UnpricedPolicy = UnpricedPolicy.ALLOW

    def refuses_unpriced(self) -> bool:
        return self.hard_limit and self.unpriced is UnpricedPolicy.REFUSE

    def covers(self, *, project: str | None, user: str | None, model: str, api_key_id: str | None) -> bool:
        if self.scope is ScopeKind.TEAM:
            return True
        value = {
            ScopeKind.PROJECT: project,
            ScopeKind.USER: user,
            ScopeKind.MODEL: model,
            ScopeKind.API_KEY: api_key_id,
        }[self.scope]
        return value == self.scope_value

    def bounds(self, at: datetime) -> tuple[datetime, datetime]:
        return period_bounds(self.period, at, self.rolling_hours)

    def counts_from(self) -> datetime | None:
        """Its spend includes its scope's events from here on: the budget was seeded with the spend of
        the period it was made in, and counts every event admitted since."""
        return None if self.created_at is None else self.bounds(self.created_at)[0]


@dataclass(frozen=True, slots=True)
class SpendRevision:
    """A stored event whose cost changed by `delta` (re-pricing), with what budget scopes look at."""

    timestamp: datetime
    project: str | None
    user: str | None
    model: str
    api_key_id: str | None
    delta: Decimal


def revision_charges(
    rules: Iterable[BudgetRule], revisions: Sequence[SpendRevision]
) -> dict[tuple[str, datetime], tuple[Decimal, int]]:
    """Spend corrections per (budget, hour): each revision's delta in every budget that covers it and
    counted it. No event count changes: the events were counted already."""
    charges: dict[tuple[str, datetime], tuple[Decimal, int]] = {}
    for rule in rules:
        since = rule.counts_from()
        for revision in revisions:
            if not revision.delta or (since is not None and revision.timestamp < since):
                continue
            if rule.covers(
                project=revision.project,
                user=revision.user,
                model=revision.model,
                api_key_id=revision.api_key_id,
            ):
                key = (rule.id, hour_of(revision.timestamp))
                amount, _ = charges.get(key, (Decimal(0), 0))
                charges[key] = (amount + revision.delta, 0)
    return charges


@dataclass(frozen=True, slots=True)
class PricedItem:
    index: int
    id: str
    timestamp: datetime
    cost: Decimal
    budgets: tuple[str, ...]  # ids of the budgets that cover it
    priced: bool = True  # False: the model has no price, `cost` is 0 for want of one


@dataclass(slots=True)
class Plan:
    admitted: list[PricedItem] = field(default_factory=list)
    refused: list[tuple[PricedItem, BudgetRule, RefusalReason]] = field(default_factory=list)
    # (budget id, hour) -> (added spend, added events)
    charges: dict[tuple[str, datetime], tuple[Decimal, int]] = field(default_factory=dict)
    # (budget id, hour) -> added events that had no price
    unpriced: dict[tuple[str, datetime], int] = field(default_factory=dict)


def plan_admission(
    rules: Mapping[str, BudgetRule],
    spent: Mapping[tuple[str, datetime], Decimal],
    items: Sequence[PricedItem],
) -> Plan:
    """`spent` maps (budget id, period start) to what the period has spent so far."""
    running = dict(spent)
    plan = Plan()
    for item in items:
        blocking: tuple[BudgetRule, RefusalReason] | None = None
        for budget_id in item.budgets:
            rule = rules[budget_id]
            if not rule.hard_limit:
                continue
            if not item.priced and rule.refuses_unpriced():
                blocking = (rule, RefusalReason.UNPRICED_MODEL)
                break
            key = (budget_id, rule.bounds(item.timestamp)[0])
            if running.get(key, Decimal(0)) + item.cost > rule.amount:
                blocking = (rule, RefusalReason.BUDGET_EXCEEDED)
                break
        if blocking is not None:
            plan.refused.append((item, *blocking))
            continue
        plan.admitted.append(item)
        hour = hour_of(item.timestamp)
        for budget_id in item.budgets:
            rule = rules[budget_id]
            key = (budget_id, rule.bounds(item.timestamp)[0])
            running[key] = running.get(key, Decimal(0)) + item.cost
            cost, count = plan.charges.get((budget_id, hour), (Decimal(0), 0))
            plan.charges[(budget_id, hour)] = (cost + item.cost, count + 1)
            if not item.priced:
                plan.unpriced[(budget_id, hour)] = plan.unpriced.get((budget_id, hour), 0) + 1
    return plan


def crossed_thresholds(rule: BudgetRule, before: Decimal, after: Decimal) -> list[int]:
    """Thresholds (percent of the amount) that spend passed on its way from `before` to `after`."""
    return [t for t in rule.thresholds if before < rule.amount * t / _HUNDRED <= after]


def period_starts(rule: BudgetRule, timestamps: Iterable[datetime]) -> set[datetime]:
    return {rule.bounds(at)[0] for at in timestamps}


def scope_filter(rule: BudgetRule) -> dict[str, str]:
    """The cost-query filter that selects the calls a budget covers."""
    field = {
        ScopeKind.PROJECT: "project",
        ScopeKind.USER: "user",
        # The reported name, as admission matches it (`model` is the price source's canonical name).
        ScopeKind.MODEL: "model_raw",
        ScopeKind.API_KEY: "api_key_id",
    }.get(rule.scope)
    return {field: rule.scope_value} if field else {}
