"""GitHub's `marketplace_purchase` webhook payload, validated into frozen models.

The shapes follow GitHub's documented payload: `action`, `effective_date`, `sender`,
`marketplace_purchase` and, on `changed` / `pending_change` / `pending_change_cancelled`,
`previous_marketplace_purchase`. GitHub adds fields over time, so unknown fields are ignored
rather than rejected; the fields we rely on are validated strictly enough that a payload we
cannot act on fails with a pydantic `ValidationError` naming the field.

Spellings GitHub is known to vary are normalised here, once, so nothing downstream compares
strings: `price_model` arrives as `FLAT_RATE` and as `flat-rate` (and `PER_UNIT` / `per-unit`,
`FREE` / `free`); `billing_cycle` as `monthly` / `yearly` in any case, or null for free plans.
Every timestamp becomes an aware UTC `datetime`: a naive value or a bare date (GitHub sends
`free_trial_ends_on` and `effective_date` at midnight precision on some deliveries) is read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
)

__all__ = [
    "AccountType",
    "BillingCycle",
    "MarketplaceAccount",
    "MarketplaceAction",
    "MarketplacePlan",
    "MarketplacePurchase",
    "MarketplacePurchaseEvent",
    "MarketplaceSender",
    "PriceModel",
    "UtcDatetime",
]


def _to_utc(value: datetime) -> datetime:
    """Read a naive datetime as UTC and express every aware one in UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
"""A timestamp normalised to an aware UTC datetime (naive values and bare dates are read as UTC)."""


def _enum_token(value: Any) -> Any:
    """Fold a string to the canonical enum spelling: trimmed, upper case, `-` and spaces as `_`."""
    if isinstance(value, str):
        return value.strip().upper().replace("-", "_").replace(" ", "_")
    return value


def _none_as_empty(value: Any) -> Any:
    return () if value is None else value


def _lower_token(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    return value


def _title_token(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().capitalize()
    return value


class PriceModel(StrEnum):
    """How a Marketplace plan is priced. GitHub documents the upper-case spellings."""

    FLAT_RATE = "FLAT_RATE"
    PER_UNIT = "PER_UNIT"
    FREE = "FREE"


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"


class AccountType(StrEnum):
    """The kind of GitHub account that holds the purchase."""

    ORGANIZATION = "Organization"
    USER = "User"


class MarketplaceAction(StrEnum):
    PURCHASED = "purchased"
    PENDING_CHANGE = "pending_change"
    PENDING_CHANGE_CANCELLED = "pending_change_cancelled"
    CHANGED = "changed"
    CANCELLED = "cancelled"


NormalisedPriceModel = Annotated[PriceModel, BeforeValidator(_enum_token)]
NormalisedBillingCycle = Annotated[BillingCycle, BeforeValidator(_lower_token)]
NormalisedAccountType = Annotated[AccountType, BeforeValidator(_title_token)]
NormalisedAction = Annotated[MarketplaceAction, BeforeValidator(_lower_token)]


class _Payload(BaseModel):
    """Frozen, and tolerant of fields GitHub adds later."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class MarketplaceAccount(_Payload):
    """The user or organization the purchase belongs to: our subscription is keyed by `id`."""

    type: NormalisedAccountType
    id: Annotated[int, Field(gt=0)]
    login: Annotated[str, Field(min_length=1)]
    node_id: str | None = None
    # Only organizations carry it; for users, GitHub's "get the authenticated user" gives an e-mail.
    organization_billing_email: str | None = None


class MarketplacePlan(_Payload):
    id: Annotated[int, Field(gt=0)]
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    monthly_price_in_cents: NonNegativeInt
    yearly_price_in_cents: NonNegativeInt
    price_model: NormalisedPriceModel
    has_free_trial: bool = False
    # Null unless the plan is priced per unit.
    unit_name: str | None = None
    # GitHub's table calls it `bullet`, its example payloads `bullets`; null on some deliveries.
    bullets: Annotated[
        tuple[str, ...],
        BeforeValidator(_none_as_empty),
        Field(validation_alias=AliasChoices("bullets", "bullet")),
    ] = ()


class MarketplacePurchase(_Payload):
    account: MarketplaceAccount
    # Null when a free GitHub account holds a free Marketplace plan.
    billing_cycle: NormalisedBillingCycle | None = None
    # Seats (or other units) bought; 1 on flat-rate plans, documented as nullable.
    unit_count: NonNegativeInt | None = None
    on_free_trial: bool = False
    free_trial_ends_on: UtcDatetime | None = None
    next_billing_date: UtcDatetime | None = None
    plan: MarketplacePlan


class MarketplaceSender(_Payload):
    """The GitHub user who took the action."""

    id: Annotated[int, Field(gt=0)]
    login: Annotated[str, Field(min_length=1)]
    type: str | None = None


class MarketplacePurchaseEvent(_Payload):
    """One `marketplace_purchase` webhook delivery's body.

    `marketplace_purchase` is the purchase as it is after the action (for `pending_change`: as it
    will be at `effective_date`); `previous_marketplace_purchase` is the one it replaces.
    """

    action: NormalisedAction
    effective_date: UtcDatetime
    sender: MarketplaceSender
    marketplace_purchase: MarketplacePurchase
    previous_marketplace_purchase: MarketplacePurchase | None = None

    @property
    def account(self) -> MarketplaceAccount:
        return self.marketplace_purchase.account
