"""Marketplace subscriptions kept by the SuperAgent: `marketplace_purchase` deliveries and the
passing of time (trial ends, scheduled downgrades and cancellations) folded into each account's
record by the pure state machine (`services.marketplace.state_machine`), with its history; the
machine's effects are carried out here (deactivation, reactivation)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.identity import lifecycle
from services.identity.installations import GitHubAccountRef, ensure_account
from services.marketplace.entitlements import plan_key
from services.marketplace.models import MarketplacePurchaseEvent
from services.marketplace.state_machine import (
    Deactivated,
    PlanActivated,
    Subscription,
    Transition,
    apply,
    tick,
)
from services.webhooks.deliveries import StoredDelivery
from services.webhooks.processing import Outcome, WebhookDispatcher
from shared.db.inbox import Connection
from shared.db.locks import try_advisory_lock

log = structlog.get_logger("mno.subscriptions")


class SubscriptionBook:
    """Reads and writes subscription records; maps their plans to the configuration's plan keys."""

    def __init__(self, plan_mapping: Mapping[str, str], default_plan: str, retention: timedelta) -> None:
        self._mapping: dict[int | str, str] = {key: value for key, value in plan_mapping.items()}
        self._default_plan = default_plan
        self._retention = retention

    async def on_purchase(self, conn: Connection, stored: StoredDelivery) -> Outcome:
        """The webhook handler for `marketplace_purchase` (on the Marketplace endpoint)."""
        event = MarketplacePurchaseEvent.model_validate(stored.payload)
        account = event.account
        account_id = await ensure_account(
            conn, GitHubAccountRef(id=account.id, login=account.login, type=account.type)
        )
        current = await self._load(conn, account.id)
        transition = apply(
            current, event, received_at=datetime.now(UTC), delivery_id=stored.guid, retention=self._retention
        )
        await self._save(conn, account.id, account_id, event.action, stored.guid, transition)
        ignored = transition.ignored
        if ignored is not None:
            return Outcome(
                "ignored", f"marketplace_purchase {event.action}: {ignored.reason}: {ignored.detail}"
            )
        status = transition.subscription.status if transition.subscription else "none"
        return Outcome("processed", f"{account.login}: {event.action} -> {status}")

    async def apply_event(
        self, conn: Connection, event: MarketplacePurchaseEvent, *, delivery_id: str
    ) -> Transition:
        """Fold one event (delivered, or synthesised by reconciliation) into the account's record."""
        account = event.account
        account_id = await ensure_account(
            conn, GitHubAccountRef(id=account.id, login=account.login, type=account.type)
        )
        current = await self._load(conn, account.id)
        transition = apply(
            current, event, received_at=datetime.now(UTC), delivery_id=delivery_id, retention=self._retention
        )
        await self._save(conn, account.id, account_id, event.action, delivery_id, transition)
        return transition

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
                        await self._save(conn, row["account_github_id"], account_id, "tick", None, transition)
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
    ) -> None:
        subscription = transition.subscription
        if subscription is not None and transition.changed:
            await conn.execute(
                """
                INSERT INTO super_agent.subscriptions
                    (account_github_id, account_id, status, plan_key, state, next_due_at, updated_at)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6, now())
                ON CONFLICT (account_github_id) DO UPDATE SET status = EXCLUDED.status,
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
        for effect in transition.effects:
            if isinstance(effect, Deactivated):
                retention = max(effect.purge_at - datetime.now(UTC), timedelta(0))
                await lifecycle.deactivate_account(
                    conn, str(account_id), reason=effect.reason, retention=retention
                )
            elif isinstance(effect, PlanActivated) and effect.reactivated:
                await lifecycle.reactivate_account(conn, str(account_id))
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


def register_subscription_handlers(dispatcher: WebhookDispatcher, book: SubscriptionBook) -> None:
    dispatcher.register("marketplace", "marketplace_purchase", book.on_purchase)
    # An App that is also listed receives them on its app webhook too when configured that way.
    dispatcher.register("app", "marketplace_purchase", book.on_purchase)
