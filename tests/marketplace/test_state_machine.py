"""The subscription state machine: every action from every state, scheduling, ordering, idempotency."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.marketplace.models import MarketplaceAction
from services.marketplace.state_machine import (
    DATA_RETENTION,
    AccountMismatch,
    CancellationScheduled,
    CancellationWithdrawn,
    ChangeDirection,
    Deactivated,
    Effect,
    Ignored,
    IgnoreReason,
    PlanActivated,
    PlanChangeCancelled,
    PlanChanged,
    PlanChangeScheduled,
    Subscription,
    SubscriptionStatus,
    Transition,
    TrialEnded,
    TrialStarted,
    github_sent_at,
    tick,
)
from tests.marketplace.factories import (
    BASIC,
    DAY,
    ENTERPRISE,
    FREE,
    ORG,
    T0,
    TEAM,
    USER,
    deliver,
    event,
    github_delivery_id,
    purchase,
    subscribed,
)

CYCLE_END = T0 + 31 * DAY
TRIAL_END = T0 + 14 * DAY
HOUR = timedelta(hours=1)


def kinds(transition: Transition) -> list[str]:
    return [effect.kind for effect in transition.effects]


def only(transition: Transition, kind: type[Effect]) -> Effect:  # type: ignore[valid-type]
    found = [effect for effect in transition.effects if isinstance(effect, kind)]
    assert len(found) == 1, transition.effects
    return found[0]


def sub_of(transition: Transition) -> Subscription:
    assert transition.subscription is not None
    return transition.subscription


def ignored_reason(transition: Transition) -> IgnoreReason:
    ignored = transition.ignored
    assert ignored is not None, transition.effects
    assert transition.changed is False
    assert transition.history is not None
    assert transition.history.applied is False
    return ignored.reason


def trialing() -> Subscription:
    return subscribed(TEAM, on_free_trial=True, free_trial_ends_on=TRIAL_END)


def with_pending_downgrade(at: datetime = T0 + DAY) -> Subscription:
    """Active on Team with a downgrade to Basic scheduled for the end of the cycle."""
    evt = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    return sub_of(deliver(subscribed(TEAM), evt, at=at))


def pending_of(sub: Subscription) -> tuple[object, datetime] | None:
    """Which plan change is scheduled, and for when (None when nothing is)."""
    change = sub.pending_change
    return None if change is None else (change.plan.plan_id, change.effective_date)


def pending_cancellation() -> Subscription:
    """Active on Team, cancelled as of the end of the cycle (delivered ahead of it)."""
    return sub_of(deliver(subscribed(TEAM), event("cancelled", CYCLE_END, purchase(TEAM)), at=T0 + DAY))


def cancelled() -> Subscription:
    return sub_of(deliver(subscribed(TEAM), event("cancelled", T0 + DAY, purchase(TEAM))))


# --- from no subscription ---------------------------------------------------------------------


def test_purchased_creates_an_active_subscription() -> None:
    """`purchased` for a new account creates an active subscription on the payload's plan."""
    transition = deliver(None, event("purchased", T0, purchase(TEAM)))
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert (sub.account_id, sub.account_login, sub.account_type.value) == (
        ORG["id"],
        "octo-org",
        "Organization",
    )
    assert sub.plan.plan_id == TEAM["id"]
    assert sub.last_event_at == T0
    assert sub.version == 1
    assert sub.entitled
    assert kinds(transition) == ["plan_activated"]
    assert transition.history is not None
    assert (transition.history.from_status, transition.history.to_status) == (None, SubscriptionStatus.ACTIVE)


def test_purchased_on_free_trial_starts_a_trial() -> None:
    """`purchased` with `on_free_trial` creates a trialing subscription ending at `free_trial_ends_on`."""
    transition = deliver(
        None, event("purchased", T0, purchase(TEAM, on_free_trial=True, free_trial_ends_on=TRIAL_END))
    )
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.TRIALING
    assert sub.trial_ends_at == TRIAL_END
    assert kinds(transition) == ["plan_activated", "trial_started"]
    started = only(transition, TrialStarted)
    assert isinstance(started, TrialStarted)
    assert started.trial_ends_at == TRIAL_END


def test_changed_for_an_unknown_account_creates_the_subscription() -> None:
    """`changed` with no subscription on record creates one on the payload's plan and says why."""
    transition = deliver(None, event("changed", T0, purchase(ENTERPRISE), previous=purchase(TEAM)))
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.plan.plan_id == ENTERPRISE["id"]
    assert kinds(transition) == ["plan_activated"]
    assert transition.history is not None
    assert "missed" in transition.history.reason


def test_pending_change_for_an_unknown_account_creates_it_on_the_previous_plan() -> None:
    """`pending_change` with no record creates one on the previous plan, with the change scheduled."""
    transition = deliver(
        None, event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)), at=T0
    )
    sub = sub_of(transition)
    assert sub.plan.plan_id == TEAM["id"]
    assert sub.pending_change is not None
    assert sub.pending_change.plan.plan_id == BASIC["id"]
    assert sub.last_event is None
    assert kinds(transition) == ["plan_activated", "plan_change_scheduled"]
    assert transition.history is not None
    assert "no subscription on record" in transition.history.reason


def test_pending_change_without_previous_for_an_unknown_account() -> None:
    """Lacking `previous_marketplace_purchase`, an unknown account is created on the payload's plan."""
    sub = sub_of(deliver(None, event("pending_change", CYCLE_END, purchase(BASIC)), at=T0))
    assert sub.plan.plan_id == BASIC["id"]
    assert sub.pending_change is None


def test_pending_change_cancelled_for_an_unknown_account_creates_it_with_a_tombstone() -> None:
    """`pending_change_cancelled` with no record creates one, remembering the cancellation."""
    transition = deliver(None, event("pending_change_cancelled", T0 + DAY, purchase(TEAM)))
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.pending_change is None
    assert sub.pending_cleared is not None
    assert sub.pending_cleared.effective_date == CYCLE_END
    late = deliver(sub, event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)))
    assert ignored_reason(late) is IgnoreReason.SUPERSEDED


def test_cancelled_for_an_unknown_account_is_recorded_as_cancelled() -> None:
    """`cancelled` with no record deactivates and records it, so a late `purchased` can't reactivate."""
    transition = deliver(None, event("cancelled", T0 + DAY, purchase(TEAM)))
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.CANCELLED
    assert not sub.entitled
    assert kinds(transition) == ["deactivated"]
    late = deliver(sub, event("purchased", T0, purchase(TEAM)))
    assert ignored_reason(late) is IgnoreReason.STALE


def test_future_cancelled_for_an_unknown_account_schedules_it() -> None:
    """A `cancelled` dated in the future for an unknown account creates it, cancellation pending."""
    transition = deliver(None, event("cancelled", CYCLE_END, purchase(TEAM)), at=T0)
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.PENDING_CANCELLATION
    assert sub.entitled
    assert kinds(transition) == ["plan_activated", "cancellation_scheduled"]


# --- from active ------------------------------------------------------------------------------


def test_upgrade_applies_at_once() -> None:
    """`changed` to a pricier plan makes it current immediately, as an upgrade."""
    sub = subscribed(BASIC)
    transition = deliver(sub, event("changed", T0 + DAY, purchase(ENTERPRISE), previous=purchase(BASIC)))
    new = sub_of(transition)
    assert new.plan.plan_id == ENTERPRISE["id"]
    assert new.status is SubscriptionStatus.ACTIVE
    assert new.version == sub.version + 1
    changed = only(transition, PlanChanged)
    assert isinstance(changed, PlanChanged)
    assert changed.direction is ChangeDirection.UPGRADE


def test_more_seats_on_a_per_unit_plan_is_an_upgrade() -> None:
    """A `changed` raising `unit_count` on a per-unit plan is an upgrade of the same plan."""
    transition = deliver(subscribed(BASIC), event("changed", T0 + DAY, purchase(BASIC, unit_count=5)))
    changed = only(transition, PlanChanged)
    assert isinstance(changed, PlanChanged)
    assert changed.direction is ChangeDirection.UPGRADE
    assert sub_of(transition).plan.unit_count == 5


def test_purchased_again_on_the_same_plan_only_confirms() -> None:
    """A newer `purchased` for the plan already held changes nothing commercially and has no effects."""
    transition = deliver(subscribed(TEAM), event("purchased", T0 + HOUR, purchase(TEAM)))
    assert transition.changed
    assert transition.effects == ()
    assert transition.history is not None
    assert "confirmed" in transition.history.reason


def test_pending_change_schedules_without_applying() -> None:
    """`pending_change` records the downgrade for `effective_date` and keeps the current plan."""
    transition = deliver(
        subscribed(TEAM),
        event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)),
        at=T0 + DAY,
    )
    sub = sub_of(transition)
    assert sub.plan.plan_id == TEAM["id"]
    assert sub.pending_change is not None
    assert (sub.pending_change.plan.plan_id, sub.pending_change.effective_date) == (BASIC["id"], CYCLE_END)
    scheduled = only(transition, PlanChangeScheduled)
    assert isinstance(scheduled, PlanChangeScheduled)
    assert scheduled.effective_date == CYCLE_END
    assert sub.last_event_at == T0  # announcements do not advance the ordering key


def test_pending_change_cancelled_with_nothing_pending_only_remembers_it() -> None:
    """`pending_change_cancelled` on an active subscription with nothing pending has no effects."""
    transition = deliver(subscribed(TEAM), event("pending_change_cancelled", T0 + DAY, purchase(TEAM)))
    assert transition.changed
    assert transition.effects == ()
    assert sub_of(transition).pending_cleared is not None


def test_cancelled_effective_now_deactivates_at_once() -> None:
    """`cancelled` whose effective date has come deactivates, revokes and schedules the purge."""
    transition = deliver(subscribed(TEAM), event("cancelled", CYCLE_END, purchase(TEAM)), at=CYCLE_END + HOUR)
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.CANCELLED
    assert not sub.entitled
    deactivated = only(transition, Deactivated)
    assert isinstance(deactivated, Deactivated)
    assert deactivated.effective_date == CYCLE_END
    assert deactivated.purge_at == CYCLE_END + DATA_RETENTION == sub.purge_at
    assert sub.cancelled_at == CYCLE_END


def test_cancelled_dated_in_the_future_is_scheduled() -> None:
    """`cancelled` with effective_date after received_at keeps the account entitled until then."""
    transition = deliver(subscribed(TEAM), event("cancelled", CYCLE_END, purchase(TEAM)), at=T0 + DAY)
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.PENDING_CANCELLATION
    assert sub.entitled
    assert sub.pending_cancellation is not None
    assert sub.pending_cancellation.effective_date == CYCLE_END
    assert kinds(transition) == ["cancellation_scheduled"]


# --- from active with a pending change --------------------------------------------------------


def test_downgrade_applied_by_changed_at_the_effective_date() -> None:
    """GitHub's `changed` at the effective date applies the scheduled downgrade and clears it."""
    transition = deliver(
        with_pending_downgrade(), event("changed", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    )
    sub = sub_of(transition)
    assert sub.plan.plan_id == BASIC["id"]
    assert sub.pending_change is None
    assert kinds(transition) == ["plan_changed"]
    changed = only(transition, PlanChanged)
    assert isinstance(changed, PlanChanged)
    assert changed.direction is ChangeDirection.DOWNGRADE


def test_downgrade_applied_by_tick_then_confirmed_by_changed() -> None:
    """`tick` at the effective date applies the downgrade; GitHub's later `changed` only confirms it."""
    sub = with_pending_downgrade()
    assert tick(sub, CYCLE_END - HOUR).changed is False
    ticked = tick(sub, CYCLE_END)
    after = sub_of(ticked)
    assert after.plan.plan_id == BASIC["id"]
    assert after.pending_change is None
    assert kinds(ticked) == ["plan_changed"]
    assert ticked.history is not None
    assert ticked.history.action == "tick"
    confirmed = deliver(after, event("changed", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)))
    assert confirmed.changed
    assert confirmed.effects == ()
    assert sub_of(confirmed).plan.plan_id == BASIC["id"]


def test_pending_change_cancelled_clears_the_scheduled_change() -> None:
    """`pending_change_cancelled` drops the scheduled change; tick at its date then does nothing."""
    transition = deliver(
        with_pending_downgrade(), event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM))
    )
    sub = sub_of(transition)
    assert sub.pending_change is None
    assert sub.plan.plan_id == TEAM["id"]
    assert kinds(transition) == ["plan_change_cancelled"]
    assert tick(sub, CYCLE_END + DAY).changed is False


def test_upgrade_while_a_downgrade_is_pending_replaces_it() -> None:
    """An upgrade before the effective date applies at once and drops the pending downgrade."""
    transition = deliver(
        with_pending_downgrade(),
        event("changed", T0 + 2 * DAY, purchase(ENTERPRISE), previous=purchase(TEAM)),
    )
    sub = sub_of(transition)
    assert sub.plan.plan_id == ENTERPRISE["id"]
    assert sub.pending_change is None
    assert kinds(transition) == ["plan_changed", "plan_change_cancelled"]


def test_newer_pending_change_replaces_the_older_one() -> None:
    """A second `pending_change` (later ordered) replaces the scheduled target."""
    transition = deliver(
        with_pending_downgrade(),
        event("pending_change", CYCLE_END + HOUR, purchase(FREE), previous=purchase(TEAM)),
        at=T0 + 2 * DAY,
    )
    pending = sub_of(transition).pending_change
    assert pending is not None
    assert pending.plan.plan_id == FREE["id"]


def test_pending_change_announced_against_another_plan_is_superseded() -> None:
    """A `pending_change` whose previous plan is not the current one is ignored as superseded."""
    transition = deliver(
        subscribed(ENTERPRISE),
        event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)),
        at=T0 + DAY,
    )
    assert ignored_reason(transition) is IgnoreReason.SUPERSEDED


def test_cancelled_with_a_pending_change_drops_it_and_deactivates() -> None:
    """An effective `cancelled` ends the subscription and the scheduled change with it."""
    transition = deliver(with_pending_downgrade(), event("cancelled", T0 + 3 * DAY, purchase(TEAM)))
    assert kinds(transition) == ["plan_change_cancelled", "deactivated"]
    assert sub_of(transition).pending_change is None


# --- from trialing ----------------------------------------------------------------------------


def test_trial_end_by_tick_makes_it_active_on_the_paid_plan() -> None:
    """At `free_trial_ends_on`, with no cancellation, tick turns the trial into an active subscription."""
    sub = trialing()
    assert tick(sub, TRIAL_END - HOUR).changed is False
    transition = tick(sub, TRIAL_END)
    after = sub_of(transition)
    assert after.status is SubscriptionStatus.ACTIVE
    assert after.trial_ends_at is None
    assert after.plan.plan_id == TEAM["id"]
    ended = only(transition, TrialEnded)
    assert isinstance(ended, TrialEnded)
    assert ended.converted


def test_changed_off_trial_ends_the_trial() -> None:
    """A `changed` with `on_free_trial` false converts a trialing subscription to active."""
    transition = deliver(trialing(), event("changed", TRIAL_END, purchase(TEAM)))
    assert sub_of(transition).status is SubscriptionStatus.ACTIVE
    assert kinds(transition) == ["trial_ended"]


def test_plan_change_during_trial_stays_trialing() -> None:
    """Switching plans during a trial changes the plan and keeps the trial running."""
    transition = deliver(
        trialing(),
        event(
            "changed",
            T0 + DAY,
            purchase(ENTERPRISE, on_free_trial=True, free_trial_ends_on=TRIAL_END),
            previous=purchase(TEAM, on_free_trial=True, free_trial_ends_on=TRIAL_END),
        ),
    )
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.TRIALING
    assert sub.plan.plan_id == ENTERPRISE["id"]
    assert kinds(transition) == ["plan_changed"]


def test_trial_cancellation_deactivates_at_once_even_if_dated_at_trial_end() -> None:
    """Cancelling a free trial deactivates immediately, whatever its effective date says."""
    cancel = event("cancelled", TRIAL_END, purchase(TEAM, on_free_trial=True, free_trial_ends_on=TRIAL_END))
    received = T0 + 2 * DAY
    transition = deliver(trialing(), cancel, at=received)
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.CANCELLED
    assert kinds(transition) == ["trial_ended", "deactivated"]
    ended = only(transition, TrialEnded)
    assert isinstance(ended, TrialEnded)
    assert not ended.converted
    deactivated = only(transition, Deactivated)
    assert isinstance(deactivated, Deactivated)
    assert deactivated.purge_at == received + DATA_RETENTION
    # Ordered as of when it acted: buying again right after it is not mistaken for older.
    again = deliver(sub, event("purchased", received + HOUR, purchase(BASIC)))
    assert sub_of(again).status is SubscriptionStatus.ACTIVE


def test_pending_change_during_trial_is_scheduled() -> None:
    """A `pending_change` on a trialing subscription is scheduled like any other."""
    transition = deliver(
        trialing(),
        event(
            "pending_change",
            TRIAL_END,
            purchase(BASIC, on_free_trial=True, free_trial_ends_on=TRIAL_END),
            previous=purchase(TEAM, on_free_trial=True, free_trial_ends_on=TRIAL_END),
        ),
        at=T0 + DAY,
    )
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.TRIALING
    assert pending_of(sub) == (BASIC["id"], TRIAL_END)
    after = sub_of(tick(sub, TRIAL_END))
    assert after.status is SubscriptionStatus.ACTIVE
    assert after.plan.plan_id == BASIC["id"]


# --- from pending cancellation ----------------------------------------------------------------


def test_scheduled_cancellation_takes_effect_on_tick() -> None:
    """`tick` at the cancellation's effective date deactivates and schedules the purge."""
    sub = pending_cancellation()
    assert tick(sub, CYCLE_END - HOUR).changed is False
    transition = tick(sub, CYCLE_END + HOUR)
    after = sub_of(transition)
    assert after.status is SubscriptionStatus.CANCELLED
    assert after.cancelled_at == CYCLE_END
    deactivated = only(transition, Deactivated)
    assert isinstance(deactivated, Deactivated)
    assert deactivated.purge_at == CYCLE_END + DATA_RETENTION
    late_purchase = deliver(after, event("changed", T0 + 2 * DAY, purchase(ENTERPRISE)))
    assert ignored_reason(late_purchase) is IgnoreReason.STALE


def test_pending_change_cancelled_withdraws_a_scheduled_cancellation() -> None:
    """`pending_change_cancelled` on a pending cancellation makes the subscription active again."""
    transition = deliver(
        pending_cancellation(), event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM))
    )
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.pending_cancellation is None
    assert kinds(transition) == ["cancellation_withdrawn"]


def test_cancelled_at_the_effective_date_completes_a_scheduled_cancellation() -> None:
    """GitHub's `cancelled` at the effective date deactivates a subscription pending cancellation."""
    transition = deliver(pending_cancellation(), event("cancelled", CYCLE_END, purchase(TEAM)), guid=None)
    assert sub_of(transition).status is SubscriptionStatus.CANCELLED
    assert kinds(transition) == ["deactivated"]


def test_changed_before_the_cancellation_date_keeps_the_cancellation() -> None:
    """A plan change dated before a scheduled cancellation applies and leaves the cancellation pending."""
    transition = deliver(
        pending_cancellation(), event("changed", T0 + 2 * DAY, purchase(ENTERPRISE), previous=purchase(TEAM))
    )
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.PENDING_CANCELLATION
    assert sub.plan.plan_id == ENTERPRISE["id"]
    assert kinds(transition) == ["plan_changed"]


def test_changed_after_the_cancellation_date_withdraws_it() -> None:
    """A plan change dated after a scheduled cancellation means the subscription goes on."""
    transition = deliver(
        pending_cancellation(),
        event("changed", CYCLE_END + DAY, purchase(ENTERPRISE), previous=purchase(TEAM)),
        at=T0 + 3 * DAY,
    )
    assert sub_of(transition).status is SubscriptionStatus.ACTIVE
    assert kinds(transition) == ["plan_changed", "cancellation_withdrawn"]


def test_pending_change_replaces_a_scheduled_cancellation() -> None:
    """A `pending_change` after a scheduled cancellation replaces it (one pending item per account)."""
    transition = deliver(
        pending_cancellation(),
        event("pending_change", CYCLE_END + HOUR, purchase(BASIC), previous=purchase(TEAM)),
        at=T0 + 2 * DAY,
    )
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert pending_of(sub) == (BASIC["id"], CYCLE_END + HOUR)
    assert kinds(transition) == ["cancellation_withdrawn", "plan_change_scheduled"]


def test_older_purchased_does_not_undo_a_scheduled_cancellation() -> None:
    """A late `purchased` older than the record is stale while a cancellation is pending."""
    transition = deliver(
        pending_cancellation(), event("purchased", T0 - DAY, purchase(TEAM)), at=T0 + 2 * DAY
    )
    assert ignored_reason(transition) is IgnoreReason.STALE


# --- from cancelled ---------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["purchased", "changed"])
def test_newer_purchase_reactivates_a_cancelled_subscription(action: str) -> None:
    """`purchased` or `changed` after a cancellation starts the subscription again."""
    sub = cancelled()
    transition = deliver(sub, event(action, T0 + 5 * DAY, purchase(BASIC, account=ORG)))
    after = sub_of(transition)
    assert after.status is SubscriptionStatus.ACTIVE
    assert after.cancelled_at is None
    assert after.purge_at is None
    activated = only(transition, PlanActivated)
    assert isinstance(activated, PlanActivated)
    assert activated.reactivated


@pytest.mark.parametrize("action", ["pending_change", "pending_change_cancelled"])
def test_scheduling_on_a_cancelled_subscription_is_not_applicable(action: str) -> None:
    """Scheduling a change on a cancelled subscription is ignored as not applicable."""
    transition = deliver(
        cancelled(), event(action, CYCLE_END, purchase(BASIC), previous=purchase(TEAM)), at=T0 + 3 * DAY
    )
    assert ignored_reason(transition) is IgnoreReason.NOT_APPLICABLE


def test_cancelled_again_is_applied_without_effects() -> None:
    """A newer `cancelled` on a cancelled subscription advances the record and changes nothing else."""
    sub = cancelled()
    transition = deliver(sub, event("cancelled", T0 + 4 * DAY, purchase(TEAM)))
    after = sub_of(transition)
    assert transition.changed
    assert transition.effects == ()
    assert after.cancelled_at == sub.cancelled_at
    assert after.last_event_at == T0 + 4 * DAY


def test_future_cancelled_on_a_cancelled_subscription_is_not_applicable() -> None:
    """A `cancelled` dated in the future on a cancelled subscription is ignored."""
    transition = deliver(cancelled(), event("cancelled", CYCLE_END, purchase(TEAM)), at=T0 + 2 * DAY)
    assert ignored_reason(transition) is IgnoreReason.NOT_APPLICABLE


def test_tick_on_a_cancelled_subscription_does_nothing() -> None:
    """`tick` has nothing to do on a cancelled subscription."""
    transition = tick(cancelled(), CYCLE_END + 90 * DAY)
    assert transition.changed is False
    assert transition.effects == ()
    assert transition.history is None


# --- ordering and idempotency -----------------------------------------------------------------


def test_failed_upgrade_revert_restores_the_previous_plan() -> None:
    """GitHub's `changed` back to the old plan after a failed upgrade payment makes it current again."""
    sub = subscribed(BASIC)
    upgraded = sub_of(
        deliver(sub, event("changed", T0 + DAY, purchase(ENTERPRISE), previous=purchase(BASIC)))
    )
    reverted = deliver(
        upgraded, event("changed", T0 + DAY + HOUR, purchase(BASIC), previous=purchase(ENTERPRISE))
    )
    assert sub_of(reverted).plan.plan_id == BASIC["id"]
    changed = only(reverted, PlanChanged)
    assert isinstance(changed, PlanChanged)
    assert changed.direction is ChangeDirection.DOWNGRADE


def test_failed_upgrade_revert_delivered_before_the_upgrade() -> None:
    """If the revert arrives before the upgrade it reverts, the upgrade is stale and not applied."""
    sub = subscribed(BASIC)
    upgrade = event("changed", T0 + DAY, purchase(ENTERPRISE), previous=purchase(BASIC))
    revert = event("changed", T0 + DAY + HOUR, purchase(BASIC), previous=purchase(ENTERPRISE))
    first = deliver(sub, revert)
    assert first.effects == ()  # already on Basic
    late = deliver(sub_of(first), upgrade)
    assert ignored_reason(late) is IgnoreReason.STALE
    assert sub_of(late).plan.plan_id == BASIC["id"]


def test_out_of_order_delivery_does_not_roll_back() -> None:
    """An event older than the last applied one is recorded as ignored (stale) and changes nothing."""
    sub = sub_of(deliver(None, event("changed", T0 + DAY, purchase(ENTERPRISE))))
    late = deliver(sub, event("purchased", T0, purchase(BASIC)))
    assert ignored_reason(late) is IgnoreReason.STALE
    assert late.subscription is sub
    assert late.history is not None
    assert late.history.action is MarketplaceAction.PURCHASED
    assert "not rolled back" in late.history.reason


def test_duplicate_delivery_is_a_no_op() -> None:
    """Redelivering the same GUID returns the same record, unchanged, with an Ignored(duplicate)."""
    sub = subscribed(BASIC)
    upgrade = event("changed", T0 + DAY, purchase(ENTERPRISE))
    first = deliver(sub, upgrade, guid="0b989ba4-242f-11e5-81e1-c7b6966d2516")
    again = deliver(sub_of(first), upgrade, guid="0b989ba4-242f-11e5-81e1-c7b6966d2516")
    assert ignored_reason(again) is IgnoreReason.DUPLICATE
    assert again.subscription is first.subscription
    assert sub_of(again).version == sub_of(first).version


def test_duplicate_scheduling_delivery_is_a_no_op() -> None:
    """Redelivering a `pending_change` changes nothing the second time."""
    sub = subscribed(TEAM)
    announce = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    first = deliver(sub, announce, at=T0 + DAY, guid="a")
    again = deliver(sub_of(first), announce, at=T0 + 2 * DAY, guid="a")
    assert ignored_reason(again) is IgnoreReason.DUPLICATE


def test_same_effective_date_is_ordered_by_time_based_guids() -> None:
    """At equal (midnight) effective dates, the send time in GitHub's v1 GUIDs orders the events."""
    midnight = T0 + DAY
    cancel = event("cancelled", midnight, purchase(TEAM))
    rebuy = event("purchased", midnight, purchase(ENTERPRISE))
    cancel_guid = github_delivery_id(midnight + timedelta(hours=9))
    rebuy_guid = github_delivery_id(midnight + timedelta(hours=10))
    at = midnight + timedelta(hours=11)
    in_order = deliver(
        sub_of(deliver(subscribed(TEAM), cancel, guid=cancel_guid, at=at)), rebuy, guid=rebuy_guid, at=at
    )
    reversed_ = deliver(
        sub_of(deliver(subscribed(TEAM), rebuy, guid=rebuy_guid, at=at)), cancel, guid=cancel_guid, at=at
    )
    assert sub_of(in_order).status is SubscriptionStatus.ACTIVE
    assert sub_of(reversed_).status is SubscriptionStatus.ACTIVE
    assert ignored_reason(reversed_) is IgnoreReason.STALE


def test_github_sent_at_reads_time_based_guids_only() -> None:
    """The send time is read from version-1 GUIDs (GitHub's documented example) and nothing else."""
    sent = github_sent_at("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert sent is not None
    assert (sent.year, sent.month, sent.day) == (2014, 4, 25)
    assert github_sent_at(github_delivery_id(T0)) == T0
    assert github_sent_at("6f1ed002-ab5d-42de-8f1a-3a3b5e1f7c55") is None
    assert github_sent_at("not-a-guid") is None


def test_pending_change_delivered_after_its_fulfilment_is_stale() -> None:
    """A `pending_change` arriving after the `changed` that applied it is stale, not rescheduled."""
    sub = subscribed(TEAM)
    fulfilled = deliver(sub, event("changed", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)))
    late = deliver(
        sub_of(fulfilled),
        event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)),
        at=CYCLE_END + HOUR,
    )
    assert ignored_reason(late) is IgnoreReason.STALE
    assert sub_of(late).pending_change is None


def test_pending_change_delivered_after_its_cancellation_is_not_scheduled() -> None:
    """A `pending_change` delivered after the `pending_change_cancelled` that undid it stays undone."""
    sub = subscribed(TEAM)
    undo = deliver(sub, event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM)))
    late = deliver(
        sub_of(undo),
        event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)),
        at=T0 + 3 * DAY,
    )
    assert ignored_reason(late) is IgnoreReason.SUPERSEDED
    assert tick(sub_of(late), CYCLE_END + DAY).changed is False


def test_pending_change_announced_before_an_upgrade_is_superseded_by_send_time() -> None:
    """With time-based GUIDs, a late announcement sent before the current plan began is dropped."""
    sub = subscribed(TEAM)
    upgrade = event("changed", T0 + 2 * DAY, purchase(ENTERPRISE), previous=purchase(TEAM))
    revert = event("changed", T0 + 2 * DAY + HOUR, purchase(TEAM), previous=purchase(ENTERPRISE))
    announce = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    announced_guid = github_delivery_id(T0 + DAY)
    at = T0 + 3 * DAY
    state = sub_of(deliver(sub, upgrade, guid=github_delivery_id(T0 + 2 * DAY), at=at))
    state = sub_of(deliver(state, revert, guid=github_delivery_id(T0 + 2 * DAY + HOUR), at=at))
    late = deliver(state, announce, guid=announced_guid, at=at)
    assert ignored_reason(late) is IgnoreReason.SUPERSEDED


# --- contract checks --------------------------------------------------------------------------


def test_account_mismatch_is_refused() -> None:
    """`apply` refuses a record of one account with an event of another."""
    with pytest.raises(AccountMismatch):
        deliver(subscribed(TEAM), event("changed", T0 + DAY, purchase(BASIC, account=USER)))


def test_naive_times_are_refused() -> None:
    """`received_at` and `now` must be timezone-aware."""
    naive = datetime(2026, 3, 2)
    with pytest.raises(ValueError, match="timezone-aware"):
        deliver(None, event("purchased", T0, purchase(TEAM)), at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        tick(subscribed(TEAM), naive)


def test_empty_delivery_id_is_refused() -> None:
    """Every delivery must carry its GUID."""
    from services.marketplace.state_machine import apply

    with pytest.raises(ValueError, match="GUID"):
        apply(None, event("purchased", T0, purchase(TEAM)), received_at=T0, delivery_id="")


def test_subscription_invariants_are_enforced() -> None:
    """A record claiming pending_cancellation without a scheduled cancellation does not validate."""
    sub = subscribed(TEAM)
    with pytest.raises(ValueError, match="pending_cancellation"):
        Subscription.model_validate({**dict(sub), "status": SubscriptionStatus.PENDING_CANCELLATION})


def test_subscription_round_trips_through_json() -> None:
    """A record with pending state serialises to JSON and back unchanged (for storage)."""
    sub = with_pending_downgrade()
    assert Subscription.model_validate_json(sub.model_dump_json()) == sub


def test_transition_effects_are_serialisable_with_their_kind() -> None:
    """Effects serialise with a `kind` discriminator, ready for an outbox."""
    transition = deliver(
        pending_cancellation(), event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM))
    )
    dumped = transition.model_dump(mode="json")
    assert dumped["effects"][0]["kind"] == "cancellation_withdrawn"
    assert Transition.model_validate(dumped) == transition


def test_effect_classes_cover_the_brief() -> None:
    """The scheduled-cancellation and ignore effects carry the fields callers act on."""
    scheduled = only(
        deliver(subscribed(TEAM), event("cancelled", CYCLE_END, purchase(TEAM)), at=T0), CancellationScheduled
    )
    assert isinstance(scheduled, CancellationScheduled)
    assert scheduled.effective_date == CYCLE_END
    withdrawn = only(
        deliver(pending_cancellation(), event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM))),
        CancellationWithdrawn,
    )
    assert isinstance(withdrawn, CancellationWithdrawn)
    dropped = only(
        deliver(with_pending_downgrade(), event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM))),
        PlanChangeCancelled,
    )
    assert isinstance(dropped, PlanChangeCancelled)
    assert dropped.plan.plan_id == BASIC["id"]
    stale = deliver(subscribed(TEAM, at=T0 + DAY), event("purchased", T0, purchase(TEAM)))
    assert isinstance(stale.ignored, Ignored)
    assert stale.ignored.account_id == ORG["id"]


# --- send times (time-based GUIDs) and what happens without them ------------------------------


def sent(at: datetime) -> str:
    """A GitHub-style time-based delivery GUID created at `at`."""
    return github_delivery_id(at)


def test_announcement_ahead_of_the_record_is_taken() -> None:
    """A `pending_change` sent after an upgrade not yet delivered is kept through that upgrade."""
    at = T0 + 3 * DAY
    sub = sub_of(deliver(None, event("purchased", T0, purchase(TEAM)), guid=sent(T0), at=at))
    upgrade = event("changed", T0 + DAY, purchase(ENTERPRISE), previous=purchase(TEAM))
    announce = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(ENTERPRISE))
    ahead = deliver(sub, announce, guid=sent(T0 + 2 * DAY), at=at)
    assert pending_of(sub_of(ahead)) == (BASIC["id"], CYCLE_END)
    caught_up = deliver(sub_of(ahead), upgrade, guid=sent(T0 + DAY), at=at)
    after = sub_of(caught_up)
    assert after.plan.plan_id == ENTERPRISE["id"]
    assert after.pending_change is not None
    assert after.pending_change.plan.plan_id == BASIC["id"]


def test_change_announced_after_a_cancellation_waits_for_the_repurchase() -> None:
    """A `pending_change` sent after a cancellation is held, then scheduled when the repurchase arrives."""
    at = CYCLE_END + 2 * DAY
    rebuy_at = CYCLE_END + HOUR
    sub = sub_of(
        deliver(subscribed(TEAM), event("cancelled", CYCLE_END, purchase(TEAM)), guid=sent(CYCLE_END))
    )
    announce = event("pending_change", CYCLE_END + 31 * DAY, purchase(BASIC), previous=purchase(ENTERPRISE))
    held = deliver(sub, announce, guid=sent(CYCLE_END + DAY), at=at)
    assert held.effects == ()
    assert sub_of(held).status is SubscriptionStatus.CANCELLED
    assert tick(sub_of(held), CYCLE_END + 40 * DAY).changed is False
    rebuy = deliver(
        sub_of(held), event("purchased", rebuy_at, purchase(ENTERPRISE)), guid=sent(rebuy_at), at=at
    )
    assert kinds(rebuy) == ["plan_activated", "plan_change_scheduled"]
    pending = sub_of(rebuy).pending_change
    assert pending is not None
    assert pending.plan.plan_id == BASIC["id"]


def test_cancellation_of_a_pending_change_sent_before_it_leaves_it_alone() -> None:
    """A `pending_change_cancelled` sent before the change on record does not cancel that change."""
    at = T0 + 3 * DAY
    announce = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    sub = sub_of(deliver(subscribed(TEAM), announce, guid=sent(T0 + 2 * DAY), at=at))
    older = deliver(
        sub, event("pending_change_cancelled", T0 + DAY, purchase(TEAM)), guid=sent(T0 + DAY), at=at
    )
    assert ignored_reason(older) is IgnoreReason.SUPERSEDED
    assert pending_of(sub_of(older)) == (BASIC["id"], CYCLE_END)


def test_rescheduled_change_after_cancelling_one_is_kept_with_send_times() -> None:
    """With send times, a change scheduled again after `pending_change_cancelled` is scheduled."""
    at = T0 + 5 * DAY
    announce = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    sub = sub_of(deliver(subscribed(TEAM), announce, guid=sent(T0 + DAY), at=at))
    sub = sub_of(
        deliver(
            sub,
            event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM)),
            guid=sent(T0 + 2 * DAY),
            at=at,
        )
    )
    again = deliver(sub, announce, guid=sent(T0 + 3 * DAY), at=at)
    assert pending_of(sub_of(again)) == (BASIC["id"], CYCLE_END)


def test_without_send_times_a_rescheduled_change_is_taken_as_cancelled() -> None:
    """Limit (3): without send times, a change rescheduled for the same date is taken as cancelled."""
    announce = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    sub = sub_of(deliver(subscribed(TEAM), announce, at=T0 + DAY))
    sub = sub_of(deliver(sub, event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM))))
    again = deliver(sub, announce, at=T0 + 3 * DAY)
    assert ignored_reason(again) is IgnoreReason.SUPERSEDED
    # GitHub's `changed` at the effective date still applies the change.
    applied = deliver(sub_of(again), event("changed", CYCLE_END, purchase(BASIC), previous=purchase(TEAM)))
    assert sub_of(applied).plan.plan_id == BASIC["id"]


def test_without_send_times_a_replaced_change_returns_after_a_revert() -> None:
    """Limit (3): without send times, a change replaced by an upgrade that was reverted is taken up again."""
    sub = subscribed(TEAM)
    upgrade = event("changed", T0 + 2 * DAY, purchase(ENTERPRISE), previous=purchase(TEAM))
    revert = event("changed", T0 + 2 * DAY + HOUR, purchase(TEAM), previous=purchase(ENTERPRISE))
    announce = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    state = sub_of(deliver(sub, upgrade, at=T0 + 3 * DAY))
    state = sub_of(deliver(state, revert, at=T0 + 3 * DAY))
    late = deliver(state, announce, at=T0 + 3 * DAY)
    assert pending_of(sub_of(late)) == (BASIC["id"], CYCLE_END)


# --- a change applied by tick is provisional until GitHub confirms it -------------------------


def ticked_downgrade(announced_at: datetime = T0 + DAY) -> Subscription:
    """Team with a downgrade to Basic (announced with a time-based GUID) applied by tick."""
    announce = event("pending_change", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    sub = subscribed(TEAM)
    sub = sub_of(deliver(sub, announce, guid=sent(announced_at), at=announced_at))
    ticked = sub_of(tick(sub, CYCLE_END))
    assert ticked.plan.plan_id == BASIC["id"]
    assert ticked.applied_change is not None
    return ticked


def test_late_event_from_before_the_announcement_does_not_undo_a_ticked_change() -> None:
    """A state-setting event sent before the announcement, delivered after tick applied it, is stale."""
    late = event("changed", T0 + HOUR, purchase(TEAM), previous=purchase(FREE))
    transition = deliver(ticked_downgrade(), late, guid=sent(T0 + HOUR), at=CYCLE_END + DAY)
    assert ignored_reason(transition) is IgnoreReason.STALE
    assert sub_of(transition).plan.plan_id == BASIC["id"]


def test_late_upgrade_that_replaced_the_change_undoes_it() -> None:
    """An upgrade sent after the announcement, delivered after tick applied the change, replaces it."""
    upgrade_at = T0 + 2 * DAY
    upgrade = event("changed", upgrade_at, purchase(ENTERPRISE), previous=purchase(TEAM))
    transition = deliver(ticked_downgrade(), upgrade, guid=sent(upgrade_at), at=CYCLE_END + DAY)
    after = sub_of(transition)
    assert after.plan.plan_id == ENTERPRISE["id"]
    assert after.applied_change is None


def test_late_cancellation_of_the_change_reverts_a_ticked_change() -> None:
    """A `pending_change_cancelled` delivered after tick applied the change puts the old plan back."""
    undo_at = T0 + 2 * DAY
    undo = event("pending_change_cancelled", undo_at, purchase(TEAM))
    transition = deliver(ticked_downgrade(), undo, guid=sent(undo_at), at=CYCLE_END + DAY)
    after = sub_of(transition)
    assert after.plan.plan_id == TEAM["id"]
    assert after.applied_change is None
    changed = only(transition, PlanChanged)
    assert isinstance(changed, PlanChanged)
    assert changed.direction is ChangeDirection.UPGRADE


def test_githubs_changed_confirms_a_ticked_change() -> None:
    """GitHub's `changed` at the effective date confirms the ticked change and ends its provisional state."""
    confirm = event("changed", CYCLE_END, purchase(BASIC), previous=purchase(TEAM))
    transition = deliver(ticked_downgrade(), confirm, guid=sent(CYCLE_END), at=CYCLE_END + HOUR)
    after = sub_of(transition)
    assert transition.effects == ()
    assert after.applied_change is None
    assert after.last_event_at == CYCLE_END


# --- the remaining cells of the action x state table ------------------------------------------


def test_future_cancellation_replaces_a_pending_change() -> None:
    """A `cancelled` dated in the future on a subscription with a pending change replaces that change."""
    transition = deliver(
        with_pending_downgrade(), event("cancelled", CYCLE_END, purchase(TEAM)), at=T0 + 2 * DAY
    )
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.PENDING_CANCELLATION
    assert sub.pending_change is None
    assert kinds(transition) == ["plan_change_cancelled", "cancellation_scheduled"]


def test_a_later_future_cancellation_redates_the_pending_one() -> None:
    """A second future `cancelled` (later ordered) replaces the scheduled cancellation's date."""
    later = CYCLE_END + 31 * DAY
    transition = deliver(pending_cancellation(), event("cancelled", later, purchase(TEAM)), at=T0 + 2 * DAY)
    pending = sub_of(transition).pending_cancellation
    assert pending is not None
    assert pending.effective_date == later


def test_pending_change_cancelled_while_trialing_changes_nothing_commercial() -> None:
    """`pending_change_cancelled` during a trial with nothing pending keeps the trial as it is."""
    body = purchase(TEAM, on_free_trial=True, free_trial_ends_on=TRIAL_END)
    transition = deliver(trialing(), event("pending_change_cancelled", T0 + DAY, body))
    sub = sub_of(transition)
    assert transition.effects == ()
    assert sub.status is SubscriptionStatus.TRIALING
    assert sub.trial_ends_at == TRIAL_END


def test_purchased_again_while_trialing_switches_plan_and_keeps_the_trial() -> None:
    """A newer `purchased` during a trial (another plan, still on trial) changes the plan only."""
    body = purchase(ENTERPRISE, on_free_trial=True, free_trial_ends_on=TRIAL_END)
    transition = deliver(trialing(), event("purchased", T0 + DAY, body))
    sub = sub_of(transition)
    assert sub.status is SubscriptionStatus.TRIALING
    assert sub.plan.plan_id == ENTERPRISE["id"]
    assert kinds(transition) == ["plan_changed"]


def test_tick_with_nothing_due_changes_nothing() -> None:
    """`tick` on an active subscription with nothing scheduled returns it unchanged, without history."""
    sub = subscribed(TEAM)
    transition = tick(sub, T0 + 400 * DAY)
    assert transition.subscription is sub
    assert transition.changed is False
    assert transition.history is None


def test_late_cancellation_reverts_a_ticked_change_and_keeps_the_next_one() -> None:
    """A late `pending_change_cancelled` undoes the ticked change but not a change announced after it."""
    sub = ticked_downgrade()
    next_cycle = CYCLE_END + 30 * DAY
    announce_again = event("pending_change", next_cycle, purchase(FREE), previous=purchase(TEAM))
    sub = sub_of(deliver(sub, announce_again, guid=sent(CYCLE_END + HOUR), at=CYCLE_END + HOUR))
    undo = event("pending_change_cancelled", T0 + 2 * DAY, purchase(TEAM))
    transition = deliver(sub, undo, guid=sent(T0 + 2 * DAY), at=CYCLE_END + DAY)
    after = sub_of(transition)
    assert after.plan.plan_id == TEAM["id"]
    assert after.pending_change is not None
    assert after.pending_change.plan.plan_id == FREE["id"]
    assert kinds(transition) == ["plan_changed"]
