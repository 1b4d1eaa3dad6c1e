"""Marketplace subscriptions kept by the SuperAgent: `marketplace_purchase` deliveries and the
passing of time (trial ends, scheduled downgrades and cancellations) folded into each account's
record by the pure state machine (`services.marketplace.state_machine`), with its history; the
machine's effects are carried out here (deactivation, reactivation).

Each record's `plan_key` is the configuration's plan for its Marketplace plan. A paid plan that the
mapping does not name falls to the default plan, visibly: the delivery's outcome says so, a
warning is logged, `mno_marketplace_unmapped_plan_events_total` counts it, and `unmapped_plan_ids`
(`mno config check`, the operator API) lists every such plan seen. When the mapping changes,
`remap` moves the existing records (at start and on every reconciliation).

A `cancelled` for a GitHub account never seen here is recorded without an account: making one only
to deactivate and purge it would be noise (and a team nobody asked for)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError

from services.identity import lifecycle
from services.identity.installations import GitHubAccountRef, ensure_account
from services.marketplace.entitlements import UnmappedPlan, plan_key, unmapped_plans
from services.marketplace.models import MarketplacePurchaseEvent, PriceModel
from services.marketplace.state_machine import (
    Deactivated,
    PlanActivated,
    PlanSnapshot,
    Subscription,
    Transition,
    apply,
    tick,
)
from services.webhooks.deliveries import StoredDelivery
from services.webhooks.processing import Outcome, WebhookDispatcher
from shared.db.inbox import Connection
from shared.db.locks import try_advisory_lock
from shared.metrics import MARKETPLACE_UNMAPPED_PLAN_EVENTS_TOTAL, MARKETPLACE_UNMAPPED_PLANS

log = structlog.get_logger("mno.subscriptions")


@dataclass
class RemapReport:
    """What `SubscriptionBook.remap` changed: `account login: old -> new` per record."""

    remapped: list[str] = field(default_factory=list)
    unmapped: list[UnmappedPlan] = field(default_factory=list)


class SubscriptionBook:
    """Reads and writes subscription records; maps their plans to the configuration's plan keys."""

    def __init__(self, plan_mapping: Mapping[str, str], default_plan: str, retention: timedelta) -> None:
        self._mapping: dict[int | str, str] = {key: value for key, value in plan_mapping.items()}
        self._default_plan = default_plan
        self._retention = retention

    async def on_purchase(self, conn: Connection, stored: StoredDelivery) -> Outcome:
        """The webhook handler for `marketplace_purchase` (on the Marketplace endpoint)."""
        event = MarketplacePurchaseEvent.model_validate(stored.payload)
        transition, created_account = await self._fold(conn, event, stored.guid)
        account = event.account
        ignored = transition.ignored
        if ignored is not None:
            return Outcome(
                "ignored", f"marketplace_purchase {event.action}: {ignored.reason}: {ignored.detail}"
            )
        subscription = transition.subscription
        status = subscription.status if subscription else "none"
        notes = [f"{account.login}: {event.action} -> {status}"]
        if not created_account:
            notes.append("no account here: the cancellation is recorded, no account was made for it")
        if subscription is not None:
            notes.extend(self._unmapped_notes(subscription))
        return Outcome("processed", "; ".join(notes))

    async def apply_event(
        self, conn: Connection, event: MarketplacePurchaseEvent, *, delivery_id: str
    ) -> Transition:
        """Fold one event (delivered, or synthesised by reconciliation) into the account's record."""
        transition, _ = await self._fold(conn, event, delivery_id)
        if transition.subscription is not None and transition.changed:
            self._unmapped_notes(transition.subscription)
        return transition

    async def _fold(
        self, conn: Connection, event: MarketplacePurchaseEvent, delivery_id: str
    ) -> tuple[Transition, bool]:
        """Apply and save; returns the transition and whether the account exists (now) here."""
        account = event.account
        current = await self._load(conn, account.id)
        transition = apply(
            current, event, received_at=datetime.now(UTC), delivery_id=delivery_id, retention=self._retention
        )
        account_id = await conn.fetchval(
            "SELECT id FROM super_agent.accounts WHERE github_id = $1", account.id
        )
        result = transition.subscription
        # Only a record that entitles needs an account: one that starts cancelled (a `cancelled` for an
        # account never seen) or an ignored event does not make one.
        if result is not None and transition.changed and result.entitled:
            account_id = await ensure_account(
                conn, GitHubAccountRef(id=account.id, login=account.login, type=account.type)
            )
        # Who bought the plan may claim an ownerless team of an account bought back (not the reconciler).
        claimants = () if delivery_id.startswith("reconcile:") else (event.sender.id,)
        await self._save(conn, account.id, account_id, event.action, delivery_id, transition, claimants)
        return transition, account_id is not None

    def _unmapped_notes(self, subscription: Subscription) -> list[str]:
        """Say (log, metric, outcome) when the record's paid plan falls to the default plan."""
        notes = []
        for plan in unmapped_plans(_plans_of(subscription), self._mapping):
            MARKETPLACE_UNMAPPED_PLAN_EVENTS_TOTAL.labels(plan_id=str(plan.plan_id)).inc()
            log.warning(
                "marketplace plan has no configured mapping: the account gets the default plan",
                account=subscription.account_login,
                plan_id=plan.plan_id,
                plan_name=plan.name,
                default_plan=self._default_plan,
                setting="accounts.marketplace_plans",
            )
            notes.append(
                f"paid Marketplace plan {plan.plan_id} ({plan.name!r}) has no entry in "
                f"accounts.marketplace_plans: on the default plan {self._default_plan!r}"
            )
        return notes

    async def remap(self, pool: Any) -> RemapReport:
        """Give every record the plan key the mapping gives its plan now (the mapping may have changed
        since the record was last written); each move is a line of the record's history."""
        report = RemapReport()
        rows = await pool.fetch("SELECT account_github_id, plan_key, state FROM super_agent.subscriptions")
        seen: list[PlanSnapshot] = []
        for row in rows:
            try:
                subscription = Subscription.model_validate(row["state"])
            except ValidationError as error:
                # One unreadable record must not keep the agent from starting, nor hide the others.
                log.error(
                    "subscription record unreadable: not re-mapped",
                    account=row["account_github_id"],
                    error=str(error),
                )
                continue
            seen.extend(_plans_of(subscription))
            wanted = self.plan_of(subscription)
            if wanted == row["plan_key"]:
                continue
            async with pool.acquire() as conn, conn.transaction():
                moved = await conn.fetchval(
                    "UPDATE super_agent.subscriptions SET plan_key = $2, updated_at = now() "
                    "WHERE account_github_id = $1 AND plan_key = $3 RETURNING true",
                    row["account_github_id"],
                    wanted,
                    row["plan_key"],
                )
                if not moved:
                    continue  # written meanwhile, with the mapping of now
                await conn.execute(
                    """
                    INSERT INTO super_agent.subscription_history
                        (account_github_id, action, delivery_id, from_status, to_status, applied, reason,
                         effects)
                    VALUES ($1, 'remap', NULL, $2, $2, true, $3, '[]'::jsonb)
                    """,
                    row["account_github_id"],
                    subscription.status.value,
                    f"plan mapping changed: {_describe(subscription.plan)} now maps to {wanted!r} "
                    f"(was {row['plan_key']!r})",
                )
            report.remapped.append(f"{subscription.account_login}: {row['plan_key']} -> {wanted}")
        report.unmapped = unmapped_plans(seen, self._mapping)
        MARKETPLACE_UNMAPPED_PLANS.set(len(report.unmapped))
        if report.remapped:
            log.warning("subscriptions re-mapped to the configured plans", remapped=report.remapped)
        for plan in report.unmapped:
            log.warning(
                "marketplace plan has no configured mapping: its accounts get the default plan",
                plan_id=plan.plan_id,
                plan_name=plan.name,
                default_plan=self._default_plan,
                setting="accounts.marketplace_plans",
            )
        return report

    async def tick_due(self, pool: Any, *, now: datetime | None = None) -> int:
        """Apply what has come due (one replica at a time); returns how many records changed."""
        now = now or datetime.now(UTC)
        changed = 0
        async with try_advisory_lock(pool, "mno.subscriptions.tick") as held:
            if not held:
                return 0
            due = await pool.fetch(
                "SELECT account_github_id FROM super_agent.subscriptions WHERE next_due_at <= $1", now
            )
            for row in due:
                async with pool.acquire() as conn, conn.transaction():
                    current = await self._load(conn, row["account_github_id"])
                    if current is None:
                        continue
                    transition = tick(current, now, retention=self._retention)
                    if transition.changed:
                        account_id = await conn.fetchval(
                            "SELECT account_id FROM super_agent.subscriptions WHERE account_github_id = $1",
                            row["account_github_id"],
                        )
                        await self._save(
                            conn, row["account_github_id"], account_id, "tick", None, transition, ()
                        )
                        changed += 1
        return changed

    def plan_of(self, subscription: Subscription) -> str:
        return plan_key(subscription.plan, self._mapping, default=self._default_plan)

    async def _load(self, conn: Connection, github_id: int) -> Subscription | None:
        state = await conn.fetchval(
            "SELECT state FROM super_agent.subscriptions WHERE account_github_id = $1 FOR UPDATE", github_id
        )
        return Subscription.model_validate(state) if state is not None else None

    async def _save(
        self,
        conn: Connection,
        github_id: int,
        account_id: Any,
        action: str,
        delivery_id: str | None,
        transition: Transition,
        claimants: tuple[int, ...],
    ) -> None:
        subscription = transition.subscription
        if subscription is not None and transition.changed:
            await conn.execute(
                """
                INSERT INTO super_agent.subscriptions
                    (account_github_id, account_id, status, plan_key, state, next_due_at, updated_at)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6, now())
                ON CONFLICT (account_github_id) DO UPDATE SET status = EXCLUDED.status,
                    account_id = coalesce(EXCLUDED.account_id, super_agent.subscriptions.account_id),
                    plan_key = EXCLUDED.plan_key, state = EXCLUDED.state, next_due_at = EXCLUDED.next_due_at,
                    updated_at = now()
                """,
                github_id,
                account_id,
                subscription.status.value,
                self.plan_of(subscription),
                subscription.model_dump(mode="json"),
                next_due(subscription),
            )
        history = transition.history
        if history is not None:
            await conn.execute(
                """
                INSERT INTO super_agent.subscription_history
                    (account_github_id, action, delivery_id, from_status, to_status, applied, reason, effects)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
                """,
                github_id,
                str(history.action),
                history.delivery_id or delivery_id,
                history.from_status.value if history.from_status else None,
                history.to_status.value if history.to_status else None,
                history.applied,
                history.reason,
                [effect.model_dump(mode="json") for effect in transition.effects],
            )
        for effect in transition.effects if account_id is not None else ():
            if isinstance(effect, Deactivated):
                retention = max(effect.purge_at - datetime.now(UTC), timedelta(0))
                await lifecycle.deactivate_account(
                    conn, str(account_id), reason=effect.reason, retention=retention
                )
            elif isinstance(effect, PlanActivated):
                # Any purchase serves the account again, whether it was deactivated or purged already
                # (then it is given a new default team), and whatever our record knew of it.
                await lifecycle.reactivate_account(conn, str(account_id), owners=claimants)
        log.info("subscription transition", account=github_id, action=action, changed=transition.changed)


def next_due(subscription: Subscription) -> datetime | None:
    """The earliest moment `tick` has something to do for this record."""
    candidates = [
        subscription.trial_ends_at if subscription.status.value == "trialing" else None,
        subscription.pending_change.effective_date if subscription.pending_change else None,
        subscription.pending_cancellation.effective_date if subscription.pending_cancellation else None,
    ]
    dates = [d for d in candidates if d is not None]
    return min(dates) if dates else None


def _plans_of(subscription: Subscription) -> list[PlanSnapshot]:
    """The Marketplace plans a record names: its current one and a scheduled change's."""
    plans = [subscription.plan]
    if subscription.pending_change is not None:
        plans.append(subscription.pending_change.plan)
    return plans


def _describe(plan: PlanSnapshot) -> str:
    return f"Marketplace plan {plan.plan_id} ({plan.name!r})"


async def unmapped_plan_ids(conn: Connection, mapping: Mapping[int | str, str]) -> list[UnmappedPlan]:
    """Every paid Marketplace plan seen on a subscription (current or scheduled) that `mapping`
    (`accounts.marketplace_plans`) names neither by id nor by name, by plan id. For the operator API
    and `mno config check`."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT plan FROM super_agent.subscriptions,
            LATERAL (VALUES (state -> 'plan'), (state -> 'pending_change' -> 'plan')) AS p (plan)
        WHERE plan IS NOT NULL AND jsonb_typeof(plan) = 'object'
          AND plan ->> 'price_model' <> $1
        """,
        PriceModel.FREE.value,
    )
    plans = []
    for row in rows:
        try:
            plans.append(PlanSnapshot.model_validate(row["plan"]))
        except ValidationError:
            log.error("subscription plan unreadable: left out of the unmapped plans", plan=row["plan"])
    return unmapped_plans(plans, mapping)


def register_subscription_handlers(dispatcher: WebhookDispatcher, book: SubscriptionBook) -> None:
    dispatcher.register("marketplace", "marketplace_purchase", book.on_purchase)
    # An App that is also listed receives them on its app webhook too when configured that way.
    dispatcher.register("app", "marketplace_purchase", book.on_purchase)
