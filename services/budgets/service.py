"""Budgets on the bus: admission of accepted events, CRUD with status, threshold alerts."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import structlog

from services.budgets import store
from services.budgets.coalesce import Coalescer
from services.budgets.periods import HOUR, hour_of
from services.budgets.planning import (
    BudgetRule,
    PricedItem,
    SpendRevision,
    crossed_thresholds,
    plan_admission,
    revision_charges,
    scope_filter,
)
from services.budgets.store import rule_of
from services.pricing.interface import PriceSource, PricingError
from services.pricing.memo import PricedOnce
from services.pricing.models import Price, Usage
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.messages.alerts import Alert, AlertKind, AlertSeverity
from shared.messages.budgets import (
    AdmissionItem,
    AdmissionRequest,
    AdmissionResult,
    BudgetForecast,
    BudgetInfo,
    BudgetList,
    BudgetLookup,
    BudgetPresence,
    BudgetPresenceQuery,
    BudgetRef,
    BudgetTeams,
    BudgetTeamsQuery,
    CreateBudget,
    DeletedBudget,
    ListBudgets,
    Refusal,
    RefusalReason,
    UpdateBudget,
)
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.messages.telemetry import Bucket, CostQuery, CostReport
from shared.principals import team_with

log = structlog.get_logger("mno.budgets")
_HUNDRED = Decimal(100)
# How long admitted event ids are remembered (resends come within minutes; clients retry for hours).
ADMISSION_MEMORY = timedelta(days=7)
# Events one admission transaction takes at most (requests are never split; each holds <= 1,000).
ADMISSION_RUN_EVENTS = 5000


class AlertSink(Protocol):
    async def raise_alert(self, team_id: str, alert: Alert) -> bool: ...


class UnpricedSink(Protocol):
    def seen(self, team_id: str, models: Iterable[tuple[str, str, str]]) -> None: ...


class SpendHistory(Protocol):
    async def report(self, team_id: str, query: CostQuery) -> CostReport: ...


class Forecaster(Protocol):
    async def forecast(
        self, team_id: str, rule: BudgetRule, spent: Decimal, now: datetime
    ) -> BudgetForecast | None: ...


@dataclass(frozen=True, slots=True)
class _Ask:
    """One admission request with its events' costs (worked out before the budget rows are locked)."""

    request: AdmissionRequest
    costs: list[Decimal | PricingError]


def _not_found(budget_id: str) -> AgentError:
    return AgentError(ErrorCode.NOT_FOUND, f"no budget {budget_id} in this team")


def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


class BudgetService:
    def __init__(
        self,
        pool: Any,
        prices: Callable[[str], Awaitable[PriceSource]],
        alerts: AlertSink | None = None,
        forecaster: Forecaster | None = None,
        history: SpendHistory | None = None,
        unpriced: UnpricedSink | None = None,
        changed: Callable[[str, bool], Awaitable[None]] | None = None,
        memo: PricedOnce | None = None,
    ) -> None:
        self._pool = pool
        # Prices worked out here are handed to this process's token-events consumer (priced once).
        self._memo = memo
        # Told (team, has budgets now) after a create or delete commits: the edges' sets follow.
        self._changed = changed
        self._unpriced = unpriced
        self._history = history
        self._prices = prices
        self._alerts = alerts
        self._forecaster = forecaster
        self._tasks: set[asyncio.Task[None]] = set()
        self._admissions: Coalescer[str, _Ask, AdmissionResult] = Coalescer(
            self._admit_together, size=lambda ask: len(ask.request.items), max_size=ADMISSION_RUN_EVENTS
        )

    # -- admission -----------------------------------------------------------------------------------

    async def presence(self, _query: BudgetPresenceQuery, ctx: MessageContext) -> BudgetPresence:
        team_id = team_with(ctx.principal, Permission.TOKEN_EVENTS_WRITE)
        async with self._pool.acquire() as conn:
            return BudgetPresence(has_budgets=await store.has_budgets(conn, team_id))

    async def teams(self, _query: BudgetTeamsQuery, ctx: MessageContext) -> BudgetTeams:
        """Every team with budgets: the edge loads its replicated set from this (never per request)."""
        if ctx.principal is None or "system" not in ctx.principal.roles:
            raise AgentError(ErrorCode.FORBIDDEN, "which teams have budgets is asked by the platform only")
        async with self._pool.acquire() as conn:
            return BudgetTeams(team_ids=await store.teams_with_budgets(conn))

    async def _announce(self, team_id: str) -> None:
        if self._changed is None:
            return
        try:
            async with self._pool.acquire() as conn:
                has_budgets = await store.has_budgets(conn, team_id)
            await self._changed(team_id, has_budgets)
        except Exception:
            # The edges reload the whole set periodically: a lost notice delays, never loses, the change.
            log.warning("budget change not announced", team_id=team_id, exc_info=True)

    async def admit(self, request: AdmissionRequest, ctx: MessageContext) -> AdmissionResult:
        """Count the events in every budget that covers them, refusing those a hard limit cannot
        take. One transaction holding the team's budget rows: replicas never overshoot together.
        The team's requests that wait meanwhile share the next transaction (`Coalescer`), and events
        are priced before it, so the rows stay locked only for the statements."""
        team_id = team_with(ctx.principal, Permission.TOKEN_EVENTS_WRITE)
        source = await self._prices(team_id)
        costs = [self._cost(team_id, source, item) for item in request.items]
        return await self._admissions.submit(team_id, _Ask(request, costs))

    async def _admit_together(self, team_id: str, asks: list[_Ask]) -> list[AdmissionResult]:
        async with self._pool.acquire() as conn, conn.transaction():
            rules = {row["id"]: rule_of(row) for row in await store.list_team(conn, team_id, lock=True)}
            if not rules:
                return [AdmissionResult() for _ in asks]
            ids = list(dict.fromkeys(item.id for ask in asks for item in ask.request.items))
            fresh = await store.fresh_event_ids(conn, team_id, ids)
            # An id new to the team is counted for the first request that names it; a later request
            # of the same run names it again (a resend racing its original): a duplicate there.
            owner: dict[str, int] = {}
            for number, ask in enumerate(asks):
                for item in ask.request.items:
                    if item.id in fresh:
                        owner.setdefault(item.id, number)
            unpriced: list[tuple[str, str, str]] = []
            asked_by: dict[int, int] = {}  # id() of a priced item -> its request's number
            items: list[PricedItem] = []
            for number, ask in enumerate(asks):
                for item, cost in zip(ask.request.items, ask.costs, strict=True):
                    if owner.get(item.id) != number:
                        continue
                    priced = self._covering(rules, item, ask.request.api_key_id, cost, unpriced)
                    asked_by[id(priced)] = number
                    items.append(priced)
            windows = {
                (budget_id, *rules[budget_id].bounds(item.timestamp))
                for item in items
                for budget_id in item.budgets
            }
            before = await store.spent(conn, sorted(windows))
            plan = plan_admission(rules, before, items)
            if plan.refused:
                # Refused events were not counted: forget them, so a resend is judged afresh.
                await store.forget_events(conn, team_id, [item.id for item, _, _ in plan.refused])
            await store.charge(conn, plan.charges, plan.unpriced)
        self._alert_crossings(team_id, rules, before, plan.admitted)
        if unpriced and self._unpriced is not None:
            self._unpriced.seen(team_id, unpriced)
        refused: list[list[Refusal]] = [[] for _ in asks]
        models: dict[int, dict[int, str]] = {}  # request number -> event index -> model
        for refused_item, rule, reason in plan.refused:
            number = asked_by[id(refused_item)]
            if number not in models:
                models[number] = {item.index: item.model for item in asks[number].request.items}
            model = models[number][refused_item.index]
            refused[number].append(self._refusal(refused_item, rule, reason, model))
        return [
            AdmissionResult(
                refused=refused[number],
                # Counted before (the id is in budget_admissions): a resend, not counted again.
                duplicates=[item.index for item in ask.request.items if owner.get(item.id) != number],
            )
            for number, ask in enumerate(asks)
        ]

    def _cost(self, team_id: str, source: PriceSource, item: AdmissionItem) -> Decimal | PricingError:
        usage = Usage(
            input_tokens=item.input_tokens,
            output_tokens=item.output_tokens,
            cache_read_tokens=item.cache_read_tokens,
            cache_write_tokens=item.cache_write_tokens,
            reasoning_tokens=item.reasoning_tokens,
            cache_write_1h_tokens=item.cache_write_1h_tokens,
        )
        price: Price | PricingError
        try:
            price = source.price(item.provider, item.model, usage, item.timestamp)
        except PricingError as error:
            price = error
        if self._memo is not None:
            call = (
                item.provider,
                item.model,
                item.timestamp,
                item.input_tokens,
                item.output_tokens,
                item.cache_read_tokens,
                item.cache_write_tokens,
                item.cache_write_1h_tokens,
                item.reasoning_tokens,
            )
            self._memo.keep(team_id, item.id, source, call, price)
        return price if isinstance(price, PricingError) else price.total

    def _refusal(self, item: PricedItem, rule: BudgetRule, reason: RefusalReason, model: str) -> Refusal:
        if reason is RefusalReason.UNPRICED_MODEL:
            message = (
                f"budget {rule.name!r} has a hard limit and refuses calls without a price; {model!r} has "
                "none: add a price override for it, or set the budget's unpriced to allow"
            )
            retry_after = None  # waiting does not give the model a price
        else:
            now = datetime.now(UTC)
            message = (
                f"budget {rule.name!r} ({_money(rule.amount)} per {self._period_words(rule)}) "
                "has no room for this call"
            )
            retry_after = max(1, math.ceil((rule.bounds(now)[1] - now).total_seconds()))
        return Refusal(
            index=item.index,
            id=item.id,
            budget_id=rule.id,
            budget_name=rule.name,
            message=message,
            reason=reason,
            retry_after_seconds=retry_after,
        )

    async def revise_spend(self, team_id: str, revisions: Sequence[SpendRevision]) -> None:
        """Re-priced events: their budgets' spend moves by the cost change (under the same row locks
        as admission, so a concurrent admission sees the spend before or after, never half)."""
        if not revisions:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            rules = [rule_of(row) for row in await store.list_team(conn, team_id, lock=True)]
            await store.charge(conn, revision_charges(rules, revisions))

    @staticmethod
    def _covering(
        rules: dict[str, BudgetRule],
        item: AdmissionItem,
        api_key_id: str | None,
        cost: Decimal | PricingError,
        unpriced: list[tuple[str, str, str]],
    ) -> PricedItem:
        priced = not isinstance(cost, PricingError)
        if isinstance(cost, PricingError):
            # Unknown cost: 0 for budgets that allow unpriced calls; hard limits may refuse it.
            unpriced.append((item.provider, item.model, str(cost)))
            cost = Decimal(0)
        covering = tuple(
            budget_id
            for budget_id, rule in rules.items()
            if rule.covers(project=item.project, user=item.user, model=item.model, api_key_id=api_key_id)
        )
        return PricedItem(item.index, item.id, item.timestamp, cost, covering, priced)

    @staticmethod
    def _period_words(rule: BudgetRule) -> str:
        return f"{rule.rolling_hours} h" if rule.rolling_hours else rule.period.value

    def _alert_crossings(
        self,
        team_id: str,
        rules: dict[str, BudgetRule],
        before: dict[tuple[str, datetime], Decimal],
        admitted: Sequence[PricedItem],
    ) -> None:
        if self._alerts is None or not admitted:
            return
        added: dict[tuple[str, datetime], Decimal] = {}
        for item in admitted:
            for budget_id in item.budgets:
                key = (budget_id, rules[budget_id].bounds(item.timestamp)[0])
                added[key] = added.get(key, Decimal(0)) + item.cost
        alerts: list[Alert] = []
        for (budget_id, start), extra in added.items():
            rule = rules[budget_id]
            old = before.get((budget_id, start), Decimal(0))
            for threshold in crossed_thresholds(rule, old, old + extra):
                alerts.append(self._threshold_alert(rule, start, threshold, old + extra))
        if alerts:
            task = asyncio.get_running_loop().create_task(self._send(team_id, alerts))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _threshold_alert(rule: BudgetRule, start: datetime, threshold: int, spent: Decimal) -> Alert:
        severity = AlertSeverity.CRITICAL if threshold >= 100 else AlertSeverity.WARNING
        scope = "the team" if not rule.scope_value else f"{rule.scope.value} {rule.scope_value}"
        return Alert(
            kind=AlertKind.BUDGET_THRESHOLD,
            severity=severity,
            title=f"Budget {rule.name} passed {threshold}%",
            text=(
                f"Spend of {scope} reached {_money(spent)} of {_money(rule.amount)} "
                f"({threshold}% threshold) in the period starting {start:%Y-%m-%d %H:%M} UTC."
                + (" Further calls are refused (hard limit)." if rule.hard_limit and threshold >= 100 else "")
            ),
            details={
                "budget_id": rule.id,
                "threshold": threshold,
                "spent_usd": str(spent),
                "amount_usd": str(rule.amount),
                "period_start": start.isoformat(),
            },
            dedup_key=f"budget:{rule.id}:{start.isoformat()}:{threshold}",
        )

    async def _send(self, team_id: str, alerts: list[Alert]) -> None:
        assert self._alerts is not None
        for alert in alerts:
            try:
                await self._alerts.raise_alert(team_id, alert)
            except Exception:
                log.exception("budget alert not raised", dedup_key=alert.dedup_key)

    async def close(self) -> None:
        await self._admissions.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- CRUD ----------------------------------------------------------------------------------------

    async def create(self, budget: CreateBudget, ctx: MessageContext) -> BudgetInfo:
        team_id = team_with(ctx.principal, Permission.BUDGETS_WRITE)
        assert ctx.principal is not None
        async with self._pool.acquire() as conn:
            try:
                row = await store.create(
                    conn, team_id, budget, ctx.principal.user_id or ctx.principal.api_key_id
                )
            except store.BudgetNameTaken as error:
                raise AgentError(
                    ErrorCode.CONFLICT, f"a budget named {budget.name!r} exists already"
                ) from error
            await self._seed(conn, team_id, rule_of(row))
            info = await self._info(conn, team_id, row)
        await self._announce(team_id)
        return info

    async def _seed(self, conn: Any, team_id: str, rule: BudgetRule) -> None:
        """A budget made mid-period starts from what its scope has spent in the period so far."""
        if self._history is None:
            return
        now = datetime.now(UTC)
        start, _end = rule.bounds(now)
        report = await self._history.report(
            team_id,
            CostQuery(since=start, until=hour_of(now) + HOUR, bucket=Bucket.HOUR, **scope_filter(rule)),
        )
        points = [point for group in report.groups for point in group.series if point.events]
        charges = {(rule.id, point.bucket_start): (point.cost_usd, point.events) for point in points}
        unpriced = {(rule.id, point.bucket_start): point.unpriced_events for point in points}
        await store.charge(conn, charges, unpriced)

    async def update(self, change: UpdateBudget, ctx: MessageContext) -> BudgetInfo:
        team_id = team_with(ctx.principal, Permission.BUDGETS_WRITE)
        async with self._pool.acquire() as conn:
            row = await store.update(conn, team_id, change)
            if row is None:
                raise _not_found(change.budget_id)
            return await self._info(conn, team_id, row)

    async def delete(self, ref: BudgetRef, ctx: MessageContext) -> DeletedBudget:
        team_id = team_with(ctx.principal, Permission.BUDGETS_WRITE)
        async with self._pool.acquire() as conn:
            if not await store.delete(conn, team_id, ref.budget_id):
                raise _not_found(ref.budget_id)
        await self._announce(team_id)
        return DeletedBudget(budget_id=ref.budget_id)

    async def get(self, ref: BudgetLookup, ctx: MessageContext) -> BudgetInfo:
        team_id = team_with(ctx.principal, Permission.BUDGETS_READ)
        async with self._pool.acquire() as conn:
            row = await store.get(conn, team_id, ref.budget_id)
            if row is None:
                raise _not_found(ref.budget_id)
            return await self._info(conn, team_id, row, with_forecast=ref.forecast)

    async def list(self, _query: ListBudgets, ctx: MessageContext) -> BudgetList:
        team_id = team_with(ctx.principal, Permission.BUDGETS_READ)
        async with self._pool.acquire() as conn:
            return BudgetList(
                budgets=[await self._info(conn, team_id, row) for row in await store.list_team(conn, team_id)]
            )

    async def _info(self, conn: Any, team_id: str, row: Any, *, with_forecast: bool = False) -> BudgetInfo:
        rule = rule_of(row)
        now = datetime.now(UTC)
        start, end = rule.bounds(now)
        spent = (await store.spent(conn, [(rule.id, start, end)])).get((rule.id, start), Decimal(0))
        unpriced = await store.unpriced_events(conn, rule.id, start, end)
        forecast = None
        if with_forecast and self._forecaster is not None:
            forecast = await self._forecaster.forecast(team_id, rule, spent, now)
        return BudgetInfo(
            id=rule.id,
            name=rule.name,
            scope=rule.scope,
            scope_value=rule.scope_value,
            amount_usd=rule.amount,
            period=rule.period,
            rolling_hours=rule.rolling_hours,
            thresholds=list(rule.thresholds),
            hard_limit=rule.hard_limit,
            unpriced=rule.unpriced,
            created_at=row["created_at"],
            period_start=start,
            period_end=end,
            spent_usd=spent,
            remaining_usd=max(Decimal(0), rule.amount - spent),
            percent_used=(spent * _HUNDRED / rule.amount).quantize(Decimal("0.01")),
            unpriced_events=unpriced,
            exhausted=spent >= rule.amount,
            forecast=forecast,
        )
