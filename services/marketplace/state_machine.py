"""The Marketplace subscription state machine: pure functions, no I/O, no clock.

`apply(subscription, event, received_at=..., delivery_id=...)` folds one `marketplace_purchase`
delivery into our record of one GitHub account's subscription; `tick(subscription, now)` applies
what has come due (a scheduled plan change or cancellation, the end of a free trial). Both return
a `Transition`: the new `Subscription` (the same object when nothing changed), the domain
`Effect`s the caller must carry out (revoke tokens, schedule a purge, notify...) and one
`HistoryEntry` for the audit trail. The caller persists all three in one transaction.

States (`SubscriptionStatus`) and what moves between them:

    (none) ──purchased/changed──► active | trialing        (trialing when on_free_trial)
    trialing ──tick at trial end / changed(on_free_trial=false)──► active
    trialing ──cancelled (any effective date)──► cancelled          (trial cancellations act at once)
    active ──pending_change──► active + pending_change
    active + pending_change ──changed at effective date / tick──► active on the new plan
    active + pending_change ──pending_change_cancelled──► active
    active ──cancelled, effective_date ≤ received_at──► cancelled
    active ──cancelled, effective_date > received_at──► pending_cancellation
    pending_cancellation ──tick at effective date──► cancelled
    pending_cancellation ──pending_change_cancelled──► active
    cancelled ──purchased/changed (newer)──► active | trialing       (a new purchase reactivates)
    cancelled ──pending_change sent after the cancellation──► cancelled, the change held for the
              purchase that must have followed (scheduled when it is delivered)
    any ──older than the record──► unchanged, Ignored(stale); same GUID again ──► Ignored(duplicate)

`changed` always makes the payload's plan current: an upgrade (applied at once), the downgrade
GitHub sends at the effective date of an earlier `pending_change`, and the `changed` back to the
previous plan that GitHub sends when an upgrade's payment fails are the same operation.

Ordering. A payload carries no send time, only `effective_date`, the instant the action takes
effect. The machine orders events by `EventKey`:

    (effective_date, sent_at, action rank, delivery_id)

- `effective_date` first: a state-setting event (`purchased`, `changed`, an effective `cancelled`)
  describes the subscription from that instant on, so the newest effective date wins whatever the
  delivery order (last-writer-wins), and an older one is ignored as stale, never rolling back.
- `sent_at` breaks ties between equal effective dates (GitHub sends some at midnight precision):
  the creation time embedded in the delivery GUID when it is a version-1 (time-based) UUID, which
  GitHub's `X-GitHub-Delivery` GUIDs are and which a redelivery keeps. Any other GUID has none.
- the action rank breaks what remains, in the order the actions follow each other in a lifecycle:
  pending_change < pending_change_cancelled < purchased < changed < cancelled.
- the delivery GUID last, only so the order is total and every replica converges.

`Subscription.last_event` is the key of the newest state-setting event applied. Scheduling events
(`pending_change`, `pending_change_cancelled`, a `cancelled` dated in the future) announce the
future: their effective date is not when they were sent, so they never advance it. A scheduled
item is stale once a state-setting event at or after its effective date is applied (the `changed`
that fulfils a pending change, a cancellation). GitHub holds one pending change per account and
any new plan choice replaces it; a `pending_change_cancelled` leaves a tombstone
(`pending_cleared`) keyed at the later of its effective date and the cycle's `next_billing_date`
(when pending changes take effect), so the change it cancelled, delivered after it, stays cancelled.

Send times. With time-based GUIDs (GitHub's) the machine also knows the order GitHub sent things
in, and uses it where effective dates cannot tell:

- a pending change is dropped by a purchase or plan change sent after it, and kept through
  state-setting events sent before it (the record catching up);
- a `pending_change` sent before the event that put the account on its current plan
  (`plan_since`) is void; one sent after it is taken even if it starts from another plan (the
  `changed` leading there is still to be delivered);
- a `pending_change` sent after a cancellation is held on the cancelled record for the purchase
  that must have followed, and scheduled when that purchase is delivered;
- a `pending_change_cancelled` sent before the pending change on record leaves it alone.

A change `tick` applies at its effective date is provisional (`applied_change`) until GitHub's
`changed` for that date, or anything dated later, confirms it: an event dated before it and
delivered late is judged against it like against a pending change (an upgrade sent after the
announcement replaces it, a `pending_change_cancelled` sent after it reverts it, anything sent
before the announcement is stale). A cancellation `tick` applies is final: it is GitHub's own
`cancelled`, received early.

Without send times it falls back to plans: a pending change is kept only while the account stays
on the plan it was announced against, refused if announced against another, dropped by a
cancellation. When unsure it drops a scheduled change rather than keep it: GitHub's own `changed`
at the effective date still applies a change, while a wrongly kept downgrade would take
entitlements from a paying account.

Convergence, precisely. Let every delivery be received at one instant R, after all were sent,
and `tick(R)` run after the last. "State" is the commercial state: status, plan terms, pending
change or cancellation, trial end.

1. State-setting events alone (`purchased`, `changed`, `cancelled`), whatever the GUIDs: any
   delivery order ends in the state of delivering them in `EventKey` order, i.e. effective_date
   order with the tie-breaks above (last-writer-wins on a total order).
2. Whole lifecycles with time-based GUIDs: any delivery order ends where GitHub's send order does,
   and so do deliveries delayed by up to weeks with `tick` run between them (each delivery then
   received when it arrives, the last `tick` after all).
   The reference is send order, not effective_date order, because a `pending_change` is sent up
   to a cycle before its effective date: sorted by effective date it would come after the
   upgrades, failed-payment reverts and cancellations that followed and replaced it, so
   effective_date order is itself a wrong history for it.
3. Without time-based GUIDs, (2) does not hold in general, because an announcement's send time
   cannot be recovered: a `pending_change` delivered before the `changed` it followed is refused
   as announced against another plan; one delivered before the re-purchase it belongs to is
   dropped; a change re-scheduled after `pending_change_cancelled` for the same date is taken as
   cancelled; two changes scheduled for the same date are ordered by GUID; and a `pending_change`
   delivered after both an upgrade that replaced it and the failed-payment revert of that upgrade
   is taken up again (the account is back on the plan it was announced against).
4. A `cancelled` dated in the future (GitHub sends cancellations when they take effect, so only
   clock skew produces one) and a `pending_change_cancelled` withdrawing it, delivered in reverse
   order, leave the cancellation scheduled.
5. Version, history and bookkeeping keys (`last_event`, `plan_since`, `pending_cleared`,
   `applied_change`, `recent_delivery_ids`) may differ between orders; the state does not.

Since "immediate or scheduled" compares `effective_date` with `received_at`, deliveries received
at different times agree once a `tick` at a common time has run. `tests/marketplace/
test_properties.py` checks (1) and (2) on generated lifecycles; `test_state_machine.py` pins (3).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from services.marketplace.models import (
    AccountType,
    BillingCycle,
    MarketplaceAction,
    MarketplacePurchase,
    MarketplacePurchaseEvent,
    PriceModel,
    UtcDatetime,
)

__all__ = [
    "DATA_RETENTION",
    "RECENT_DELIVERIES",
    "AccountMismatch",
    "CancellationScheduled",
    "CancellationWithdrawn",
    "ChangeDirection",
    "Deactivated",
    "Effect",
    "EventKey",
    "HistoryEntry",
    "IgnoreReason",
    "Ignored",
    "PendingCancellation",
    "PendingChange",
    "PlanActivated",
    "PlanChangeCancelled",
    "PlanChangeScheduled",
    "PlanChanged",
    "PlanSnapshot",
    "Subscription",
    "SubscriptionStatus",
    "Transition",
    "TrialEnded",
    "TrialStarted",
    "apply",
    "github_sent_at",
    "tick",
]

DATA_RETENTION = timedelta(days=30)
"""GitHub's rule: after a cancellation, purge the account's data within 30 days."""

RECENT_DELIVERIES = 32
"""How many applied delivery GUIDs a subscription remembers, to make redeliveries no-ops."""

_UUID_EPOCH = datetime(1582, 10, 15, tzinfo=UTC)
_NO_SENT_AT = datetime.min.replace(tzinfo=UTC)


class AccountMismatch(ValueError):
    """`apply` was given one account's subscription and another account's event."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    # Paid for until the cancellation's effective date, deactivated then.
    PENDING_CANCELLATION = "pending_cancellation"
    CANCELLED = "cancelled"

    @property
    def entitled(self) -> bool:
        """Whether the account may use the plan in this state."""
        return self is not SubscriptionStatus.CANCELLED


class IgnoreReason(StrEnum):
    STALE = "stale"  # older than what the record already reflects
    DUPLICATE = "duplicate"  # the same delivery GUID was already applied
    SUPERSEDED = "superseded"  # a scheduling event overtaken by a newer choice
    NOT_APPLICABLE = "not_applicable"  # nothing to act on (e.g. a pending change on a cancelled account)


class ChangeDirection(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    LATERAL = "lateral"


# --- the record -------------------------------------------------------------------------------


class PlanSnapshot(_Frozen):
    """The plan an account is on, as far as billing goes: GitHub's plan plus the purchase terms."""

    plan_id: PositiveInt
    name: str
    price_model: PriceModel
    unit_count: NonNegativeInt | None = None
    billing_cycle: BillingCycle | None = None
    unit_name: str | None = None
    monthly_price_in_cents: NonNegativeInt = 0
    yearly_price_in_cents: NonNegativeInt = 0

    @classmethod
    def from_purchase(cls, purchase: MarketplacePurchase) -> PlanSnapshot:
        plan = purchase.plan
        return cls(
            plan_id=plan.id,
            name=plan.name,
            price_model=plan.price_model,
            unit_count=purchase.unit_count,
            billing_cycle=purchase.billing_cycle,
            unit_name=plan.unit_name,
            monthly_price_in_cents=plan.monthly_price_in_cents,
            yearly_price_in_cents=plan.yearly_price_in_cents,
        )

    @property
    def terms(self) -> tuple[int, int | None, BillingCycle | None]:
        """What identifies a purchase: plan, units and cycle (names and prices are cosmetic)."""
        return (self.plan_id, self.unit_count, self.billing_cycle)

    @property
    def monthly_cost_in_cents(self) -> float:
        """The purchase's cost per month, to tell upgrades from downgrades."""
        if self.price_model is PriceModel.FREE:
            return 0.0
        if self.billing_cycle is BillingCycle.YEARLY:
            base = self.yearly_price_in_cents / 12
        else:
            base = float(self.monthly_price_in_cents)
        if self.price_model is PriceModel.PER_UNIT:
            base *= self.unit_count or 0
        return base


def github_sent_at(delivery_id: str) -> datetime | None:
    """The creation time inside a version-1 (time-based) UUID delivery GUID, else None."""
    try:
        parsed = uuid.UUID(delivery_id)
    except ValueError:
        return None
    if parsed.variant != uuid.RFC_4122 or parsed.version != 1:
        return None
    return _UUID_EPOCH + timedelta(microseconds=parsed.time // 10)


_RANK: dict[MarketplaceAction, int] = {
    MarketplaceAction.PENDING_CHANGE: 0,
    MarketplaceAction.PENDING_CHANGE_CANCELLED: 1,
    MarketplaceAction.PURCHASED: 2,
    MarketplaceAction.CHANGED: 3,
    MarketplaceAction.CANCELLED: 4,
}


class EventKey(_Frozen):
    """The position of an event in the account's history: see the module's "Ordering"."""

    effective_date: UtcDatetime
    sent_at: UtcDatetime | None = None
    rank: NonNegativeInt
    delivery_id: Annotated[str, Field(min_length=1)]

    @classmethod
    def of(cls, action: MarketplaceAction, effective_date: datetime, delivery_id: str) -> EventKey:
        return cls(
            effective_date=effective_date,
            sent_at=github_sent_at(delivery_id),
            rank=_RANK[action],
            delivery_id=delivery_id,
        )

    @property
    def sort_key(self) -> tuple[datetime, datetime, int, str]:
        return (self.effective_date, self.sent_at or _NO_SENT_AT, self.rank, self.delivery_id)

    def after(self, other: EventKey | None) -> bool:
        """Strictly later than `other` (anything is later than nothing)."""
        return other is None or self.sort_key > other.sort_key


class PendingChange(_Frozen):
    """A plan change GitHub announced for `effective_date` (the start of the next cycle)."""

    plan: PlanSnapshot
    # The purchase the change was announced against: it is dropped if the account leaves it.
    from_plan: PlanSnapshot
    effective_date: UtcDatetime
    key: EventKey


class PendingCancellation(_Frozen):
    """A cancellation that takes effect at `effective_date`; the account is entitled until then."""

    effective_date: UtcDatetime
    key: EventKey


class Subscription(_Frozen):
    """Our record of one GitHub account's Marketplace subscription."""

    account_id: PositiveInt
    account_login: str
    account_type: AccountType
    status: SubscriptionStatus
    plan: PlanSnapshot
    trial_ends_at: UtcDatetime | None = None
    next_billing_date: UtcDatetime | None = None
    # On a cancelled record: a change announced after the cancellation, held for the purchase that
    # must have followed it and is not delivered yet.
    pending_change: PendingChange | None = None
    pending_cancellation: PendingCancellation | None = None
    # Tombstone of the newest pending_change_cancelled: pending changes keyed at or before it are void.
    pending_cleared: EventKey | None = None
    # Key of the newest state-setting event applied; None while only scheduling events were seen.
    last_event: EventKey | None = None
    # Key of the event as of which the current plan is known: the one that put the subscription on
    # it (a purchase, a plan change, a cancellation) or the announcement it was learnt from.
    plan_since: EventKey | None = None
    # A scheduled change `tick` applied, until GitHub's `changed` at its effective date (or anything
    # later) confirms it: late events dated before it are judged against it, not rolled back onto it.
    applied_change: PendingChange | None = None
    cancelled_at: UtcDatetime | None = None
    # When the account's data must be purged by (set on deactivation).
    purge_at: UtcDatetime | None = None
    version: PositiveInt = 1
    recent_delivery_ids: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        cancelling = self.status is SubscriptionStatus.PENDING_CANCELLATION
        if cancelling != (self.pending_cancellation is not None):
            raise ValueError("status pending_cancellation goes with a pending_cancellation, and only it")
        if self.pending_change is not None and self.pending_cancellation is not None:
            raise ValueError("a subscription holds one pending change or one pending cancellation")
        cancelled = self.status is SubscriptionStatus.CANCELLED
        if cancelled != (self.cancelled_at is not None):
            raise ValueError("cancelled_at is set exactly when the status is cancelled")
        if self.trial_ends_at is not None and self.status is not SubscriptionStatus.TRIALING:
            raise ValueError("trial_ends_at is only set while trialing")
        return self

    @property
    def last_event_at(self) -> datetime | None:
        """The effective date of the newest state-setting event applied."""
        return self.last_event.effective_date if self.last_event is not None else None

    @property
    def entitled(self) -> bool:
        return self.status.entitled


# --- effects ----------------------------------------------------------------------------------


class _Effect(_Frozen):
    account_id: PositiveInt


class PlanActivated(_Effect):
    """The account gains access to `plan`: a new subscription, or a cancelled one bought again.

    When `reactivated`, any purge scheduled by the earlier `Deactivated` must be called off.
    """

    kind: Literal["plan_activated"] = "plan_activated"
    plan: PlanSnapshot
    on_free_trial: bool
    reactivated: bool


class TrialStarted(_Effect):
    kind: Literal["trial_started"] = "trial_started"
    plan: PlanSnapshot
    trial_ends_at: UtcDatetime | None


class TrialEnded(_Effect):
    """The free trial is over: `converted` when it became a paid subscription, not when cancelled."""

    kind: Literal["trial_ended"] = "trial_ended"
    plan: PlanSnapshot
    converted: bool


class PlanChanged(_Effect):
    """The current plan changed now: entitlements follow `to_plan`."""

    kind: Literal["plan_changed"] = "plan_changed"
    from_plan: PlanSnapshot
    to_plan: PlanSnapshot
    direction: ChangeDirection


class PlanChangeScheduled(_Effect):
    kind: Literal["plan_change_scheduled"] = "plan_change_scheduled"
    from_plan: PlanSnapshot
    to_plan: PlanSnapshot
    effective_date: UtcDatetime


class PlanChangeCancelled(_Effect):
    """A scheduled plan change will not happen."""

    kind: Literal["plan_change_cancelled"] = "plan_change_cancelled"
    plan: PlanSnapshot
    effective_date: UtcDatetime
    reason: str


class CancellationScheduled(_Effect):
    kind: Literal["cancellation_scheduled"] = "cancellation_scheduled"
    effective_date: UtcDatetime


class CancellationWithdrawn(_Effect):
    kind: Literal["cancellation_withdrawn"] = "cancellation_withdrawn"
    effective_date: UtcDatetime
    reason: str


class Deactivated(_Effect):
    """Access ends now: revoke the account's tokens and keys; purge its data by `purge_at`."""

    kind: Literal["deactivated"] = "deactivated"
    effective_date: UtcDatetime
    purge_at: UtcDatetime
    reason: str


class Ignored(_Effect):
    """The event changed nothing, and why."""

    kind: Literal["ignored"] = "ignored"
    reason: IgnoreReason
    detail: str


Effect = Annotated[
    PlanActivated
    | TrialStarted
    | TrialEnded
    | PlanChanged
    | PlanChangeScheduled
    | PlanChangeCancelled
    | CancellationScheduled
    | CancellationWithdrawn
    | Deactivated
    | Ignored,
    Field(discriminator="kind"),
]


class HistoryEntry(_Frozen):
    """One line of the subscription's audit trail."""

    at: UtcDatetime
    action: MarketplaceAction | Literal["tick"]
    delivery_id: str | None
    effective_date: UtcDatetime | None
    from_status: SubscriptionStatus | None
    to_status: SubscriptionStatus | None
    applied: bool
    reason: str


class Transition(_Frozen):
    """The outcome of `apply` or `tick`."""

    subscription: Subscription | None
    effects: tuple[Effect, ...] = ()
    history: HistoryEntry | None = None
    changed: bool = False

    @property
    def ignored(self) -> Ignored | None:
        for effect in self.effects:
            if isinstance(effect, Ignored):
                return effect
        return None


# --- apply ------------------------------------------------------------------------------------


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _direction(before: PlanSnapshot, after: PlanSnapshot) -> ChangeDirection:
    if after.monthly_cost_in_cents > before.monthly_cost_in_cents:
        return ChangeDirection.UPGRADE
    if after.monthly_cost_in_cents < before.monthly_cost_in_cents:
        return ChangeDirection.DOWNGRADE
    return ChangeDirection.LATERAL


def _describe(plan: PlanSnapshot) -> str:
    units = f" x{plan.unit_count}" if plan.price_model is PriceModel.PER_UNIT else ""
    cycle = f", {plan.billing_cycle.value}" if plan.billing_cycle is not None else ""
    return f"{plan.name!r} (plan {plan.plan_id}{units}{cycle})"


class _Step:
    """What one `apply` call knows: the event, its key and the delivery's metadata."""

    def __init__(
        self,
        previous: Subscription | None,
        event: MarketplacePurchaseEvent,
        *,
        received_at: datetime,
        delivery_id: str,
        retention: timedelta,
    ) -> None:
        self.previous = previous
        self.event = event
        self.purchase = event.marketplace_purchase
        self.account_id = event.account.id
        self.received_at = received_at
        self.delivery_id = delivery_id
        self.retention = retention
        self.key = EventKey.of(event.action, event.effective_date, delivery_id)

    @property
    def action(self) -> MarketplaceAction:
        return self.event.action

    @property
    def effective_date(self) -> datetime:
        return self.event.effective_date

    def _entry(self, to_status: SubscriptionStatus | None, applied: bool, reason: str) -> HistoryEntry:
        return HistoryEntry(
            at=self.received_at,
            action=self.action,
            delivery_id=self.delivery_id,
            effective_date=self.effective_date,
            from_status=self.previous.status if self.previous is not None else None,
            to_status=to_status,
            applied=applied,
            reason=reason,
        )

    def ignore(self, reason: IgnoreReason, detail: str) -> Transition:
        previous = self.previous
        return Transition(
            subscription=previous,
            effects=(Ignored(account_id=self.account_id, reason=reason, detail=detail),),
            history=self._entry(
                previous.status if previous is not None else None, False, f"ignored ({reason}): {detail}"
            ),
            changed=False,
        )

    def stale(self, last: EventKey | None, what: str = "the newest event applied") -> Transition:
        when = last.effective_date.isoformat() if last is not None else "?"
        return self.ignore(
            IgnoreReason.STALE,
            f"{self.action.value} effective {self.effective_date.isoformat()} is not after "
            f"{what} (effective {when}): state is not rolled back",
        )

    def new(self, **fields: object) -> Subscription:
        """A subscription created by this event."""
        account = self.event.account
        base: dict[str, object] = {
            "account_id": account.id,
            "account_login": account.login,
            "account_type": account.type,
            "version": 1,
            "recent_delivery_ids": (self.delivery_id,),
        }
        return Subscription.model_validate({**base, **fields})

    def evolve(self, previous: Subscription, **fields: object) -> Subscription:
        """The next version of `previous`, with this delivery remembered."""
        account = self.event.account
        recent = (*previous.recent_delivery_ids, self.delivery_id)[-RECENT_DELIVERIES:]
        values: dict[str, object] = {
            **dict(previous),
            "account_login": account.login,
            "account_type": account.type,
            "version": previous.version + 1,
            "recent_delivery_ids": recent,
        }
        values.update(fields)
        return Subscription.model_validate(values)

    def applied(self, subscription: Subscription, effects: Sequence[Effect], reason: str) -> Transition:
        return Transition(
            subscription=subscription,
            effects=tuple(effects),
            history=self._entry(subscription.status, True, reason),
            changed=True,
        )


def apply(
    subscription: Subscription | None,
    event: MarketplacePurchaseEvent,
    *,
    received_at: datetime,
    delivery_id: str,
    retention: timedelta = DATA_RETENTION,
) -> Transition:
    """Fold one `marketplace_purchase` delivery into the account's subscription record.

    `subscription` is the record for the event's account, or None if there is none yet;
    `received_at` is when the delivery arrived (aware); `delivery_id` its `X-GitHub-Delivery`
    GUID. Raises `AccountMismatch` if the record belongs to another account.
    """
    if not delivery_id:
        raise ValueError("delivery_id must be the delivery's non-empty GUID")
    received_at = _aware(received_at, "received_at")
    if subscription is not None and subscription.account_id != event.account.id:
        raise AccountMismatch(
            f"subscription of account {subscription.account_id} given an event of account {event.account.id}"
        )
    step = _Step(subscription, event, received_at=received_at, delivery_id=delivery_id, retention=retention)
    if subscription is not None and delivery_id in subscription.recent_delivery_ids:
        return step.ignore(IgnoreReason.DUPLICATE, f"delivery {delivery_id} was already applied")

    action = event.action
    if action in (MarketplaceAction.PURCHASED, MarketplaceAction.CHANGED):
        return _apply_plan(step, subscription)
    if action is MarketplaceAction.CANCELLED:
        on_trial = event.marketplace_purchase.on_free_trial or (
            subscription is not None and subscription.status is SubscriptionStatus.TRIALING
        )
        if on_trial or event.effective_date <= received_at:
            return _deactivate(step, subscription, on_trial=on_trial)
        return _schedule_cancellation(step, subscription)
    if action is MarketplaceAction.PENDING_CHANGE:
        return _schedule_change(step, subscription)
    return _cancel_pending_change(step, subscription)


def _trial_fields(purchase: MarketplacePurchase) -> dict[str, object]:
    if purchase.on_free_trial:
        return {"status": SubscriptionStatus.TRIALING, "trial_ends_at": purchase.free_trial_ends_on}
    return {"status": SubscriptionStatus.ACTIVE, "trial_ends_at": None}


def _activation_effects(
    step: _Step, plan: PlanSnapshot, purchase: MarketplacePurchase, *, reactivated: bool
) -> list[Effect]:
    effects: list[Effect] = [
        PlanActivated(
            account_id=step.account_id,
            plan=plan,
            on_free_trial=purchase.on_free_trial,
            reactivated=reactivated,
        )
    ]
    if purchase.on_free_trial:
        effects.append(
            TrialStarted(account_id=step.account_id, plan=plan, trial_ends_at=purchase.free_trial_ends_on)
        )
    return effects


def _survives(pending: PendingChange, step: _Step, plan: PlanSnapshot) -> bool:
    """Whether a pending change outlives a state-setting event dated before its effective date.

    GitHub holds one pending change per account and a new plan choice replaces it. With send
    times known, the change is replaced exactly when a purchase or a plan change (to other terms
    than the change started from, or between different terms) was sent after it; without them,
    when the account moves off the plan the change was announced against.
    """
    key = step.key
    if pending.key.sent_at is None or key.sent_at is None:
        return pending.from_plan.terms == plan.terms
    if key.sent_at < pending.key.sent_at:
        return True
    previous = step.event.previous_marketplace_purchase
    replaced = (
        step.action is MarketplaceAction.PURCHASED
        or plan.terms != pending.from_plan.terms
        or (previous is not None and PlanSnapshot.from_purchase(previous).terms != plan.terms)
    )
    return not replaced


def _apply_plan(step: _Step, sub: Subscription | None) -> Transition:
    """`purchased` or `changed`: the payload's plan is current from `effective_date` on."""
    purchase = step.purchase
    plan = PlanSnapshot.from_purchase(purchase)
    common: dict[str, object] = {
        "plan": plan,
        "next_billing_date": purchase.next_billing_date,
        "last_event": step.key,
        **_trial_fields(purchase),
    }
    previous = step.event.previous_marketplace_purchase
    # A plan change as GitHub saw it: a purchase, a `changed` between different terms, or one that
    # moves our record (which may lag behind GitHub's deliveries) to other terms.
    plan_change = (
        sub is None
        or sub.status is SubscriptionStatus.CANCELLED
        or step.action is MarketplaceAction.PURCHASED
        or plan.terms != sub.plan.terms
        or (previous is not None and PlanSnapshot.from_purchase(previous).terms != plan.terms)
    )
    if plan_change:
        common["plan_since"] = step.key
    if sub is None:
        created = step.new(**common)
        if step.action is MarketplaceAction.PURCHASED:
            reason = f"purchased {_describe(plan)}"
        else:
            reason = (
                f"no subscription on record: created on {_describe(plan)} from `changed` "
                "(the `purchased` delivery was missed or is late)"
            )
        return step.applied(created, _activation_effects(step, plan, purchase, reactivated=False), reason)

    if not step.key.after(sub.last_event):
        return step.stale(sub.last_event)
    applied = sub.applied_change
    if (
        applied is not None
        and step.effective_date < applied.effective_date
        and _survives(applied, step, plan)
    ):
        return step.stale(applied.key, f"the scheduled change to {_describe(applied.plan)} applied")
    common["applied_change"] = None

    if sub.status is SubscriptionStatus.CANCELLED:
        reactivation = _activation_effects(step, plan, purchase, reactivated=True)
        held = sub.pending_change
        if held is not None and held.effective_date > step.effective_date and _survives(held, step, plan):
            reactivation.append(
                PlanChangeScheduled(
                    account_id=step.account_id,
                    from_plan=held.from_plan,
                    to_plan=held.plan,
                    effective_date=held.effective_date,
                )
            )
        else:
            held = None
        reactivated = step.evolve(
            sub,
            **common,
            pending_change=held,
            pending_cancellation=None,
            cancelled_at=None,
            purge_at=None,
        )
        return step.applied(reactivated, reactivation, f"{step.action.value} after cancellation: reactivated")

    effects: list[Effect] = []
    notes: list[str] = []
    account_id = step.account_id
    if sub.status is SubscriptionStatus.TRIALING and not purchase.on_free_trial:
        effects.append(TrialEnded(account_id=account_id, plan=plan, converted=True))
        notes.append("trial converted to paid")
    elif sub.status is not SubscriptionStatus.TRIALING and purchase.on_free_trial:
        effects.append(
            TrialStarted(account_id=account_id, plan=plan, trial_ends_at=purchase.free_trial_ends_on)
        )
        notes.append("trial started")
    if plan.terms != sub.plan.terms:
        direction = _direction(sub.plan, plan)
        effects.append(
            PlanChanged(account_id=account_id, from_plan=sub.plan, to_plan=plan, direction=direction)
        )
        notes.append(f"{direction.value} from {_describe(sub.plan)} to {_describe(plan)}")
    else:
        notes.append(f"plan {_describe(plan)} confirmed")

    pending_change = sub.pending_change
    if pending_change is not None:
        keeps = pending_change.effective_date > step.effective_date and _survives(pending_change, step, plan)
        if keeps:
            notes.append("pending change kept")
        else:
            if pending_change.plan.terms == plan.terms:
                notes.append("pending change fulfilled")
            else:
                why = f"superseded by `{step.action.value}` to {_describe(plan)}"
                effects.append(
                    PlanChangeCancelled(
                        account_id=account_id,
                        plan=pending_change.plan,
                        effective_date=pending_change.effective_date,
                        reason=why,
                    )
                )
                notes.append(f"pending change to {_describe(pending_change.plan)} {why}")
            pending_change = None

    pending_cancellation = sub.pending_cancellation
    if pending_cancellation is not None and pending_cancellation.effective_date <= step.effective_date:
        why = f"the subscription continues past it (`{step.action.value}` effective later)"
        effects.append(
            CancellationWithdrawn(
                account_id=account_id, effective_date=pending_cancellation.effective_date, reason=why
            )
        )
        notes.append(f"pending cancellation withdrawn: {why}")
        pending_cancellation = None

    fields = dict(common)
    fields["pending_change"] = pending_change
    fields["pending_cancellation"] = pending_cancellation
    if pending_cancellation is not None:
        fields["status"] = SubscriptionStatus.PENDING_CANCELLATION
        fields["trial_ends_at"] = None
    return step.applied(step.evolve(sub, **fields), effects, "; ".join(notes))


def _deactivate(step: _Step, sub: Subscription | None, *, on_trial: bool) -> Transition:
    """A `cancelled` that acts now: its effective date has come, or it ends a free trial."""
    # A trial cancellation may be dated at the trial's end; it acts now, so it is ordered as of now
    # (else a new purchase right after it would look older than the cancellation).
    effective = min(step.effective_date, step.received_at)
    key = step.key.model_copy(update={"effective_date": effective})
    purge_at = effective + step.retention
    plan = PlanSnapshot.from_purchase(step.purchase)
    deactivated = Deactivated(
        account_id=step.account_id,
        effective_date=effective,
        purge_at=purge_at,
        reason="free trial cancelled" if on_trial else "subscription cancelled",
    )
    cancelled_fields: dict[str, object] = {
        "status": SubscriptionStatus.CANCELLED,
        "trial_ends_at": None,
        "pending_change": None,
        "pending_cancellation": None,
        "cancelled_at": effective,
        "purge_at": purge_at,
        "applied_change": None,
        "last_event": key,
        # The payload's purchase is the one being cancelled: the record keeps it as the last plan.
        "plan": plan,
        "plan_since": key,
    }
    if sub is None:
        created = step.new(next_billing_date=None, **cancelled_fields)
        return step.applied(
            created,
            [deactivated],
            "no subscription on record: recorded as cancelled, so a late purchase cannot reactivate it",
        )
    if not key.after(sub.last_event):
        return step.stale(sub.last_event)
    applied = sub.applied_change
    if applied is not None and effective < applied.effective_date and _after_cancellation(applied.key, key):
        # The change `tick` applied was announced after this cancellation, for the purchase that
        # followed it: this is older news.
        return step.stale(applied.key, f"the scheduled change to {_describe(applied.plan)} applied")
    held = sub.pending_change if _held_past(sub.pending_change, key) else None
    if sub.status is SubscriptionStatus.CANCELLED:
        # Deactivated since the earlier cancellation: its date and purge deadline stand.
        later = step.evolve(sub, last_event=key, plan=plan, plan_since=key, pending_change=held)
        return step.applied(later, [], "already cancelled: nothing more to do")

    effects: list[Effect] = []
    if sub.status is SubscriptionStatus.TRIALING:
        effects.append(TrialEnded(account_id=step.account_id, plan=sub.plan, converted=False))
    if held is not None:
        # Announced after this cancellation: it belongs to a later purchase, still to be delivered.
        cancelled_fields["pending_change"] = held
    elif sub.pending_change is not None:
        effects.append(
            PlanChangeCancelled(
                account_id=step.account_id,
                plan=sub.pending_change.plan,
                effective_date=sub.pending_change.effective_date,
                reason="the subscription was cancelled",
            )
        )
    effects.append(deactivated)
    reason = "free trial cancelled: deactivated at once" if on_trial else "cancelled: deactivated"
    return step.applied(step.evolve(sub, **cancelled_fields), effects, reason)


def _after_cancellation(key: EventKey, cancellation: EventKey | None) -> bool:
    """Whether an announcement was sent after `cancellation`, so belongs to a later purchase.

    Only send times (time-based GUIDs) can tell; without them the answer is no, and the
    announcement is dropped: GitHub's own `changed` at the effective date still applies the change.
    """
    return (
        cancellation is not None
        and key.sent_at is not None
        and cancellation.sent_at is not None
        and key.sent_at > cancellation.sent_at
    )


def _held_past(pending: PendingChange | None, cancellation: EventKey) -> bool:
    """Whether a pending change outlives a cancellation: only if announced after it, for later."""
    return (
        pending is not None
        and pending.effective_date > cancellation.effective_date
        and _after_cancellation(pending.key, cancellation)
    )


def _scheduling_conflict(
    step: _Step, sub: Subscription, key: EventKey, *, held_if_cancelled: bool = False
) -> Transition | None:
    """Why a scheduling event cannot be taken on `sub`, or None if it can.

    On a cancelled record, a change announced after the cancellation can only belong to a purchase
    not yet delivered: with `held_if_cancelled` it is held for it instead of being refused.
    """
    if sub.status is SubscriptionStatus.CANCELLED:
        if not key.after(sub.last_event):
            return step.stale(sub.last_event)
        if not (held_if_cancelled and _after_cancellation(key, sub.last_event)):
            return step.ignore(IgnoreReason.NOT_APPLICABLE, "the subscription is cancelled")
    if not key.after(sub.last_event):
        return step.stale(sub.last_event)
    slot = sub.pending_change or sub.pending_cancellation
    if slot is not None and not key.after(slot.key):
        return step.ignore(
            IgnoreReason.SUPERSEDED,
            f"a later-ordered {'change' if sub.pending_change else 'cancellation'} is already "
            f"scheduled for {slot.effective_date.isoformat()}",
        )
    return None


def _cancels_applied(step: _Step, applied: PendingChange, horizon: datetime) -> bool:
    """Whether a `pending_change_cancelled` delivered late cancelled a change `tick` already applied."""
    if step.effective_date >= applied.effective_date:
        return False
    sent_at = step.key.sent_at
    if sent_at is not None and applied.key.sent_at is not None:
        return sent_at > applied.key.sent_at
    return applied.effective_date <= horizon


def _schedule_cancellation(step: _Step, sub: Subscription | None) -> Transition:
    """A `cancelled` dated in the future: the account stays entitled until then."""
    pending = PendingCancellation(effective_date=step.effective_date, key=step.key)
    scheduled = CancellationScheduled(account_id=step.account_id, effective_date=step.effective_date)
    when = step.effective_date.isoformat()
    if sub is None:
        plan = PlanSnapshot.from_purchase(step.purchase)
        created = step.new(
            plan=plan,
            status=SubscriptionStatus.PENDING_CANCELLATION,
            pending_cancellation=pending,
            next_billing_date=step.purchase.next_billing_date,
        )
        creation = [*_activation_effects(step, plan, step.purchase, reactivated=False), scheduled]
        return step.applied(
            created, creation, f"no subscription on record: created, cancellation scheduled for {when}"
        )
    conflict = _scheduling_conflict(step, sub, step.key)
    if conflict is not None:
        return conflict
    effects: list[Effect] = []
    if sub.pending_change is not None:
        effects.append(
            PlanChangeCancelled(
                account_id=step.account_id,
                plan=sub.pending_change.plan,
                effective_date=sub.pending_change.effective_date,
                reason="replaced by a cancellation",
            )
        )
    effects.append(scheduled)
    updated = step.evolve(
        sub,
        status=SubscriptionStatus.PENDING_CANCELLATION,
        trial_ends_at=None,
        pending_change=None,
        pending_cancellation=pending,
    )
    return step.applied(updated, effects, f"cancellation scheduled for {when}")


def _schedule_change(step: _Step, sub: Subscription | None) -> Transition:
    """`pending_change`: the payload's plan becomes current at `effective_date`, not before."""
    target = PlanSnapshot.from_purchase(step.purchase)
    previous_purchase = step.event.previous_marketplace_purchase
    when = step.effective_date.isoformat()
    if sub is None:
        current_purchase = previous_purchase or step.purchase
        current = PlanSnapshot.from_purchase(current_purchase)
        pending = None
        creation = _activation_effects(step, current, current_purchase, reactivated=False)
        if target.terms != current.terms:
            pending = PendingChange(
                plan=target, from_plan=current, effective_date=step.effective_date, key=step.key
            )
            creation.append(
                PlanChangeScheduled(
                    account_id=step.account_id,
                    from_plan=current,
                    to_plan=target,
                    effective_date=step.effective_date,
                )
            )
        created = step.new(
            plan=current,
            pending_change=pending,
            # The plan is known as of this announcement (it was sent against that plan).
            plan_since=step.key,
            next_billing_date=current_purchase.next_billing_date,
            **_trial_fields(current_purchase),
        )
        source = "previous_marketplace_purchase" if previous_purchase else "the payload, lacking a previous"
        return step.applied(
            created,
            creation,
            f"no subscription on record: created on {_describe(current)} (from {source}), "
            f"change to {_describe(target)} scheduled for {when}",
        )

    conflict = _scheduling_conflict(step, sub, step.key, held_if_cancelled=True)
    if conflict is not None:
        return conflict
    from_plan = PlanSnapshot.from_purchase(previous_purchase) if previous_purchase else sub.plan
    # Send times (from time-based GUIDs) tell an announcement that predates the current plan (void:
    # GitHub replaced it when the plan changed) from one that is ahead of our record (the `changed`
    # that put the account on its starting plan is still to be delivered).
    since_sent = sub.plan_since.sent_at if sub.plan_since is not None else None
    sent_at = step.key.sent_at
    if since_sent is not None and sent_at is not None:
        if sent_at < since_sent:
            return step.ignore(
                IgnoreReason.SUPERSEDED,
                f"announced at {sent_at.isoformat()}, before the subscription moved to its current plan "
                f"(at {since_sent.isoformat()})",
            )
    elif from_plan.terms != sub.plan.terms and sub.status is not SubscriptionStatus.CANCELLED:
        return step.ignore(
            IgnoreReason.SUPERSEDED,
            f"announced against {_describe(from_plan)}, but the subscription is on {_describe(sub.plan)}",
        )
    if sub.pending_cleared is not None and not step.key.after(sub.pending_cleared):
        return step.ignore(
            IgnoreReason.SUPERSEDED,
            "cancelled by a pending_change_cancelled already applied "
            f"(covering changes up to {sub.pending_cleared.effective_date.isoformat()})",
        )
    effects: list[Effect] = []
    fields: dict[str, object] = {}
    applied = sub.applied_change
    if (
        applied is not None
        and sent_at is not None
        and applied.key.sent_at is not None
        and applied.key.sent_at < sent_at < applied.effective_date
    ):
        # Announced before the change `tick` applied took effect, so it replaced that change at
        # GitHub: undo it, and schedule this one instead.
        effects.append(
            PlanChanged(
                account_id=step.account_id,
                from_plan=sub.plan,
                to_plan=applied.from_plan,
                direction=_direction(sub.plan, applied.from_plan),
            )
        )
        fields.update(plan=applied.from_plan, applied_change=None, plan_since=step.key)
    if sub.pending_cancellation is not None:
        effects.append(
            CancellationWithdrawn(
                account_id=step.account_id,
                effective_date=sub.pending_cancellation.effective_date,
                reason="replaced by a plan change",
            )
        )
    effects.append(
        PlanChangeScheduled(
            account_id=step.account_id,
            from_plan=from_plan,
            to_plan=target,
            effective_date=step.effective_date,
        )
    )
    pending = PendingChange(
        plan=target, from_plan=from_plan, effective_date=step.effective_date, key=step.key
    )
    status = sub.status
    if status is SubscriptionStatus.PENDING_CANCELLATION:
        status = SubscriptionStatus.ACTIVE
    updated = step.evolve(sub, status=status, pending_change=pending, pending_cancellation=None, **fields)
    if status is SubscriptionStatus.CANCELLED:
        return step.applied(
            updated,
            [],
            f"change to {_describe(target)} for {when} held: announced after the cancellation, "
            "so for a purchase not yet delivered",
        )
    return step.applied(updated, effects, f"change to {_describe(target)} scheduled for {when}")


def _cancel_pending_change(step: _Step, sub: Subscription | None) -> Transition:
    """`pending_change_cancelled`: whatever is scheduled will not happen."""
    purchase = step.purchase
    # Pending changes take effect at the next billing date, so the cancellation covers up to it.
    horizon = max(step.effective_date, purchase.next_billing_date or step.effective_date)
    tombstone = step.key.model_copy(update={"effective_date": horizon})
    if sub is None:
        plan = PlanSnapshot.from_purchase(purchase)
        created = step.new(
            plan=plan,
            pending_cleared=tombstone,
            plan_since=step.key,
            next_billing_date=purchase.next_billing_date,
            **_trial_fields(purchase),
        )
        return step.applied(
            created,
            _activation_effects(step, plan, purchase, reactivated=False),
            f"no subscription on record: created on {_describe(plan)}, no change pending",
        )
    if sub.status is SubscriptionStatus.CANCELLED:
        if not step.key.after(sub.last_event):
            return step.stale(sub.last_event)
        if not _after_cancellation(step.key, sub.last_event):
            return step.ignore(IgnoreReason.NOT_APPLICABLE, "the subscription is cancelled")
    if not step.key.after(sub.last_event):
        return step.stale(sub.last_event)
    applied = sub.applied_change
    reverting = applied is not None and _cancels_applied(step, applied, horizon)
    if not reverting and sub.pending_cleared is not None and not tombstone.after(sub.pending_cleared):
        return step.stale(sub.pending_cleared, "the pending_change_cancelled already applied")

    slot = sub.pending_change or sub.pending_cancellation
    effects: list[Effect] = []
    notes: list[str] = []
    fields: dict[str, object] = {}
    cleared = tombstone
    if applied is not None and reverting:
        # `tick` applied the change before this cancellation of it was delivered: undo it.
        effects.append(
            PlanChanged(
                account_id=step.account_id,
                from_plan=sub.plan,
                to_plan=applied.from_plan,
                direction=_direction(sub.plan, applied.from_plan),
            )
        )
        fields.update(plan=applied.from_plan, plan_since=step.key, applied_change=None)
        if applied.key.after(cleared):
            cleared = applied.key
        notes.append(
            f"the change to {_describe(applied.plan)} applied at {applied.effective_date.isoformat()} "
            f"had been cancelled: back on {_describe(applied.from_plan)}"
        )
    if slot is not None:
        slot_sent, this_sent = slot.key.sent_at, step.key.sent_at
        if slot_sent is not None and this_sent is not None:
            announced_later = slot_sent > this_sent
        elif purchase.next_billing_date is not None:
            # Pending items take effect at a cycle's end; one dated past this cycle's is newer.
            announced_later = slot.effective_date > horizon
        else:
            announced_later = False
        if announced_later:
            if not fields:
                return step.ignore(
                    IgnoreReason.SUPERSEDED,
                    "the scheduled item on record was announced after this cancellation of a pending change",
                )
            notes.append("the item scheduled since stays")
        else:
            if slot.key.after(cleared):
                cleared = slot.key
            fields.update(pending_change=None, pending_cancellation=None)
            if sub.pending_change is not None:
                effects.append(
                    PlanChangeCancelled(
                        account_id=step.account_id,
                        plan=sub.pending_change.plan,
                        effective_date=sub.pending_change.effective_date,
                        reason="pending_change_cancelled",
                    )
                )
                notes.append(f"pending change to {_describe(sub.pending_change.plan)} cancelled")
            else:
                effects.append(
                    CancellationWithdrawn(
                        account_id=step.account_id,
                        effective_date=slot.effective_date,
                        reason="pending_change_cancelled",
                    )
                )
                fields["status"] = SubscriptionStatus.ACTIVE
                notes.append("pending cancellation withdrawn")
    elif not fields:
        notes.append(f"no change pending; changes announced up to {horizon.isoformat()} are void")
    if sub.pending_cleared is None or cleared.after(sub.pending_cleared):
        fields["pending_cleared"] = cleared
    updated = step.evolve(sub, **fields)
    if updated.status is SubscriptionStatus.CANCELLED:
        # Bookkeeping for a purchase not yet delivered: nothing to tell anyone yet.
        effects = []
    return step.applied(updated, effects, "; ".join(notes))


# --- tick -------------------------------------------------------------------------------------


def tick(subscription: Subscription, now: datetime, *, retention: timedelta = DATA_RETENTION) -> Transition:
    """Apply what has come due by `now`: a trial's end, a scheduled change or cancellation.

    Returns an unchanged `Transition` (no effects, no history) when nothing is due.
    """
    now = _aware(now, "now")
    sub = subscription
    if sub.status is SubscriptionStatus.CANCELLED:
        return Transition(subscription=sub, changed=False)
    due: list[tuple[datetime, int]] = []
    if (
        sub.status is SubscriptionStatus.TRIALING
        and sub.trial_ends_at is not None
        and sub.trial_ends_at <= now
    ):
        due.append((sub.trial_ends_at, 0))
    if sub.pending_change is not None and sub.pending_change.effective_date <= now:
        due.append((sub.pending_change.effective_date, 1))
    if sub.pending_cancellation is not None and sub.pending_cancellation.effective_date <= now:
        due.append((sub.pending_cancellation.effective_date, 2))
    if not due:
        return Transition(subscription=sub, changed=False)

    fields: dict[str, object] = {}
    effects: list[Effect] = []
    notes: list[str] = []
    last_event = sub.last_event
    for when, what in sorted(due):
        if what == 0:
            fields.update(status=SubscriptionStatus.ACTIVE, trial_ends_at=None)
            effects.append(TrialEnded(account_id=sub.account_id, plan=sub.plan, converted=True))
            notes.append(f"free trial ended {when.isoformat()}: active on the paid plan")
        elif what == 1:
            change = sub.pending_change
            assert change is not None
            before = fields.get("plan", sub.plan)
            assert isinstance(before, PlanSnapshot)
            fields.update(plan=change.plan, pending_change=None, applied_change=change, plan_since=change.key)
            if change.plan.terms == before.terms:
                notes.append(f"scheduled change to the current plan {_describe(before)} is moot")
            else:
                direction = _direction(before, change.plan)
                effects.append(
                    PlanChanged(
                        account_id=sub.account_id, from_plan=before, to_plan=change.plan, direction=direction
                    )
                )
                notes.append(
                    f"scheduled {direction.value} to {_describe(change.plan)} applied ({when.isoformat()})"
                )
            # Provisional until GitHub's `changed` at the effective date confirms it, so the
            # ordering key stays: a state-setting event dated before it, delivered late, still
            # applies (an upgrade that replaced the change, say) instead of being taken as stale.
        else:
            cancellation = sub.pending_cancellation
            assert cancellation is not None
            purge_at = when + retention
            fields.update(
                status=SubscriptionStatus.CANCELLED,
                trial_ends_at=None,
                pending_cancellation=None,
                cancelled_at=when,
                purge_at=purge_at,
            )
            effects.append(
                Deactivated(
                    account_id=sub.account_id,
                    effective_date=when,
                    purge_at=purge_at,
                    reason="scheduled cancellation took effect",
                )
            )
            notes.append(f"scheduled cancellation took effect ({when.isoformat()}): deactivated")
            if cancellation.key.after(last_event):
                last_event = cancellation.key
    fields["last_event"] = last_event
    fields["version"] = sub.version + 1
    updated = Subscription.model_validate({**dict(sub), **fields})
    entry = HistoryEntry(
        at=now,
        action="tick",
        delivery_id=None,
        effective_date=None,
        from_status=sub.status,
        to_status=updated.status,
        applied=True,
        reason="; ".join(notes),
    )
    return Transition(subscription=updated, effects=tuple(effects), history=entry, changed=True)
