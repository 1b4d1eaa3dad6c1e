"""Marketplace reconciliation: GitHub does not let anyone re-fetch a missed `marketplace_purchase`
delivery, so now and then we compare our subscriptions with the Marketplace API's accounts per
plan and repair the drift. Each repair is folded through the same state machine as a delivery
(a synthetic event, id `reconcile:…`), so the history says what was repaired and why. Each run
also re-maps every record to the configured plans (`SubscriptionBook.remap`): the mapping may
have changed since a record was written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from services.github import models as gh
from services.github.client import GitHubClient
from services.identity.subscriptions import SubscriptionBook
from services.marketplace.models import MarketplacePurchaseEvent, PriceModel
from services.marketplace.state_machine import PlanSnapshot, SubscriptionStatus
from shared.db.locks import try_advisory_lock

log = structlog.get_logger("mno.reconcile")

# Reconciliation acts for nobody in particular: the sender of its synthetic events.
RECONCILER = {"id": 1, "login": "mno-reconciler", "type": "Bot"}


@dataclass
class ReconcileReport:
    accounts_on_github: int = 0
    repaired: list[str] = field(default_factory=list)
    remapped: list[str] = field(default_factory=list)


def _plan(plan: gh.MarketplacePlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "description": plan.description,
        "monthly_price_in_cents": plan.monthly_price_in_cents,
        "yearly_price_in_cents": plan.yearly_price_in_cents,
        "price_model": plan.price_model,
        "has_free_trial": plan.has_free_trial,
        "unit_name": plan.unit_name,
        "bullets": list(plan.bullets),
    }


def _purchase(account: gh.MarketplaceAccount) -> dict[str, Any]:
    bought = account.marketplace_purchase
    return {
        "account": {"type": account.type, "id": account.id, "login": account.login},
        "billing_cycle": bought.billing_cycle,
        "unit_count": bought.unit_count,
        "on_free_trial": bought.on_free_trial,
        "free_trial_ends_on": bought.free_trial_ends_on.isoformat() if bought.free_trial_ends_on else None,
        "next_billing_date": bought.next_billing_date.isoformat() if bought.next_billing_date else None,
        "plan": _plan(bought.plan),
    }


def synthetic_event(action: str, purchase: dict[str, Any], when: datetime) -> MarketplacePurchaseEvent:
    return MarketplacePurchaseEvent.model_validate(
        {
            "action": action,
            "effective_date": when.isoformat(),
            "sender": RECONCILER,
            "marketplace_purchase": purchase,
        }
    )


async def reconcile_marketplace(
    pool: Any,
    github: GitHubClient,
    book: SubscriptionBook,
    *,
    stubbed: bool = False,
    now: datetime | None = None,
) -> ReconcileReport:
    """Compare and repair (one replica at a time). What GitHub lists is the truth for who is on which
    plan now; an entitled record of ours that GitHub does not list is cancelled."""
    now = now or datetime.now(UTC)
    report = ReconcileReport()
    async with try_advisory_lock(pool, "mno.marketplace.reconcile") as held:
        if not held:
            return report
        listed: dict[int, gh.MarketplaceAccount] = {}
        for plan in await github.list_marketplace_plans(stubbed=stubbed):
            for account in await github.list_marketplace_accounts_for_plan(plan.id, stubbed=stubbed):
                listed[account.id] = account
        report.accounts_on_github = len(listed)
        ours = {
            row["account_github_id"]: row
            for row in await pool.fetch(
                "SELECT account_github_id, status, state FROM super_agent.subscriptions"
            )
        }
        for github_id, account in listed.items():
            record = ours.get(github_id)
            plan_id = account.marketplace_purchase.plan.id
            entitled = record is not None and record["status"] != SubscriptionStatus.CANCELLED.value
            theirs = PlanSnapshot.from_purchase(
                synthetic_event("changed", _purchase(account), now).marketplace_purchase
            )
            if (
                entitled
                and record is not None
                and same_terms(PlanSnapshot.model_validate(record["state"]["plan"]), theirs)
            ):
                continue
            action = "purchased" if not entitled else "changed"
            await _fold(pool, book, synthetic_event(action, _purchase(account), now))
            report.repaired.append(f"{account.login}: {action} to plan {plan_id} (missing or different here)")
        for github_id, record in ours.items():
            if github_id in listed or record["status"] == SubscriptionStatus.CANCELLED.value:
                continue
            state = record["state"]
            purchase = {
                "account": {"type": state["account_type"], "id": github_id, "login": state["account_login"]},
                "billing_cycle": state["plan"].get("billing_cycle"),
                "unit_count": state["plan"].get("unit_count"),
                "on_free_trial": False,
                "plan": {
                    "id": state["plan"]["plan_id"],
                    "name": state["plan"]["name"],
                    "price_model": state["plan"]["price_model"],
                    "monthly_price_in_cents": state["plan"].get("monthly_price_in_cents", 0),
                    "yearly_price_in_cents": state["plan"].get("yearly_price_in_cents", 0),
                },
            }
            await _fold(pool, book, synthetic_event("cancelled", purchase, now))
            report.repaired.append(f"{state['account_login']}: cancelled (no longer on any Marketplace plan)")
        report.remapped = (await book.remap(pool)).remapped
    if report.repaired:
        log.warning("marketplace drift repaired", repairs=report.repaired)
    return report


def same_terms(ours: PlanSnapshot, theirs: PlanSnapshot) -> bool:
    """Whether our record has GitHub's plan, and for a per-unit plan the units bought (the seats)."""
    if ours.plan_id != theirs.plan_id:
        return False
    return theirs.price_model is not PriceModel.PER_UNIT or ours.unit_count == theirs.unit_count


async def _fold(pool: Any, book: SubscriptionBook, event: MarketplacePurchaseEvent) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await book.apply_event(conn, event, delivery_id=f"reconcile:{uuid.uuid4()}")
