"""Realistic `marketplace_purchase` payloads, modelled on GitHub's documented example payload.

Every builder returns plain JSON-shaped dicts (what GitHub POSTs), so tests can also feed them
raw to pydantic; `event()` validates one into a `MarketplacePurchaseEvent`.
"""

from __future__ import annotations

import copy
import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.marketplace.models import MarketplaceAction, MarketplacePurchaseEvent
from services.marketplace.state_machine import Subscription, Transition, apply

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)

ORG = {
    "type": "Organization",
    "id": 18404719,
    "node_id": "MDEyOk9yZ2FuaXphdGlvbjE4NDA0NzE5",
    "login": "octo-org",
    "organization_billing_email": "billing@octo-org.example",
}
USER = {"type": "User", "id": 3877742, "node_id": "MDQ6VXNlcjM4Nzc3NDI=", "login": "octocat"}

SENDER = {
    "login": "octocat",
    "id": 3877742,
    "node_id": "MDQ6VXNlcjM4Nzc3NDI=",
    "avatar_url": "https://avatars.githubusercontent.com/u/3877742?v=4",
    "gravatar_id": "",
    "url": "https://api.github.com/users/octocat",
    "html_url": "https://github.com/octocat",
    "type": "User",
    "site_admin": False,
    "email": "octocat@example.com",
}

FREE = {
    "id": 434,
    "name": "Free",
    "description": "For trying it out",
    "monthly_price_in_cents": 0,
    "yearly_price_in_cents": 0,
    "price_model": "FREE",
    "has_free_trial": False,
    "unit_name": None,
    "bullets": ["100k token events a month"],
}
BASIC = {
    "id": 435,
    "name": "Basic Plan",
    "description": "Basic Plan",
    "monthly_price_in_cents": 1000,
    "yearly_price_in_cents": 10000,
    "price_model": "per-unit",
    "has_free_trial": True,
    "unit_name": "seat",
    "bullets": ["Is Basic", "Because Basic "],
}
TEAM = {
    "id": 436,
    "name": "Team",
    "description": "For teams",
    "monthly_price_in_cents": 4900,
    "yearly_price_in_cents": 49000,
    "price_model": "FLAT_RATE",
    "has_free_trial": True,
    "unit_name": None,
    "bullets": ["Budgets", "Alerts"],
}
ENTERPRISE = {
    "id": 437,
    "name": "Enterprise",
    "description": "Everything",
    "monthly_price_in_cents": 19900,
    "yearly_price_in_cents": 199000,
    "price_model": "flat-rate",
    "has_free_trial": False,
    "unit_name": None,
    "bullets": ["Everything"],
}
PLANS = (FREE, BASIC, TEAM, ENTERPRISE)  # cheapest first

_counter = itertools.count(1)


def iso(moment: datetime) -> str:
    """GitHub's spelling of a timestamp: `2017-10-25T00:00:00+00:00`."""
    return moment.isoformat()


_random = random.Random(20260301)


def delivery_id() -> str:
    """A random (version 4) delivery GUID: no send time can be read from it."""
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))


_UUID_EPOCH = datetime(1582, 10, 15, tzinfo=UTC)


def github_delivery_id(sent_at: datetime, *, sequence: int | None = None, node: int = 0x4C9367DC0958) -> str:
    """A time-based (version 1) GUID like GitHub's `X-GitHub-Delivery`, created at `sent_at`."""
    ticks = (sent_at - _UUID_EPOCH) // timedelta(microseconds=1) * 10
    clock_seq = (next(_counter) if sequence is None else sequence) & 0x3FFF
    fields = (
        ticks & 0xFFFFFFFF,
        (ticks >> 32) & 0xFFFF,
        ((ticks >> 48) & 0x0FFF) | 0x1000,
        0x80 | (clock_seq >> 8),
        clock_seq & 0xFF,
        node,
    )
    return str(uuid.UUID(fields=fields))


def purchase(
    plan: dict[str, Any] = BASIC,
    *,
    account: dict[str, Any] = ORG,
    unit_count: int | None = 1,
    billing_cycle: str | None = "monthly",
    on_free_trial: bool = False,
    free_trial_ends_on: datetime | None = None,
    next_billing_date: datetime | None = T0 + 31 * DAY,
) -> dict[str, Any]:
    return {
        "account": copy.deepcopy(account),
        "billing_cycle": billing_cycle,
        "unit_count": unit_count,
        "on_free_trial": on_free_trial,
        "free_trial_ends_on": iso(free_trial_ends_on) if free_trial_ends_on else None,
        "next_billing_date": iso(next_billing_date) if next_billing_date else None,
        "plan": copy.deepcopy(plan),
    }


def payload(
    action: MarketplaceAction | str,
    effective_date: datetime,
    current: dict[str, Any] | None = None,
    *,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole webhook body, with the extra top-level fields GitHub sends alongside."""
    body: dict[str, Any] = {
        "action": str(action),
        "effective_date": iso(effective_date),
        "sender": copy.deepcopy(SENDER),
        "marketplace_purchase": current if current is not None else purchase(),
        "installation": {"id": 2311213, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw=="},
    }
    if previous is not None:
        body["previous_marketplace_purchase"] = previous
    return body


def event(
    action: MarketplaceAction | str,
    effective_date: datetime,
    current: dict[str, Any] | None = None,
    *,
    previous: dict[str, Any] | None = None,
) -> MarketplacePurchaseEvent:
    return MarketplacePurchaseEvent.model_validate(
        payload(action, effective_date, current, previous=previous)
    )


def deliver(
    subscription: Subscription | None,
    evt: MarketplacePurchaseEvent,
    *,
    at: datetime | None = None,
    guid: str | None = None,
) -> Transition:
    """Apply `evt` as received at `at` (default: its effective date, or T0 if that is later)."""
    received_at = at if at is not None else max(evt.effective_date, T0)
    return apply(subscription, evt, received_at=received_at, delivery_id=guid or delivery_id())


def subscribed(plan: dict[str, Any] = BASIC, *, at: datetime = T0, **purchase_fields: Any) -> Subscription:
    """A subscription created by a `purchased` at `at`."""
    transition = deliver(None, event("purchased", at, purchase(plan, **purchase_fields)), at=at)
    assert transition.subscription is not None
    return transition.subscription
