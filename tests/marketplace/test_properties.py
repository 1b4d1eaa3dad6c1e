"""Property tests: the state machine's result does not depend on the order deliveries arrive in.

A small simulation of GitHub's side of a subscription (purchases, trials, upgrades and failed
upgrade reverts, scheduled downgrades and their cancellation, cancellations at the end of the cycle,
repurchases) produces the events GitHub would send, in the order it sends them. Delivering them in
any other order must end in the same commercial state. See `services.marketplace.state_machine`'s
docstring ("Convergence") for why the reference is the send order rather than `effective_date`
order: a `pending_change` is sent well before its effective date, so sorting by effective date
puts it after events that in fact followed it. For state-setting events only, send order and
effective-date order coincide, and `test_state_setting_events_in_any_order_equal_effective_date_order`
checks that literal statement. A third test delays deliveries by up to weeks and lets the scheduler
`tick` between them. Deliveries use time-based GUIDs as GitHub's are; what changes without them is
pinned in `test_state_machine.py`.

`MNO_PROPERTY_EXAMPLES=20000` (say) runs a soak instead of the quick default; add
`-o timeout=0` then, as pytest-timeout would stop it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.marketplace.models import MarketplacePurchaseEvent
from services.marketplace.state_machine import (
    EventKey,
    Subscription,
    SubscriptionStatus,
    apply,
    github_sent_at,
    tick,
)
from tests.marketplace.factories import (
    BASIC,
    ENTERPRISE,
    FREE,
    PLANS,
    T0,
    TEAM,
    event,
    github_delivery_id,
    purchase,
)

MINUTE = timedelta(minutes=1)
CYCLE = timedelta(days=30)
TRIAL = timedelta(days=14)


def _cost(plan: dict[str, Any], units: int) -> int:
    price: int = plan["monthly_price_in_cents"]
    return price * units if plan["price_model"] == "per-unit" else price


def _choices() -> list[tuple[dict[str, Any], int]]:
    return [(plan, units) for plan in PLANS for units in ((1, 2, 5) if plan is BASIC else (1,))]


@dataclass
class Sent:
    event: MarketplacePurchaseEvent
    guid: str


@dataclass
class GitHubSide:
    """GitHub's view of one account's subscription, sending the webhooks GitHub would send."""

    time_based_guids: bool
    now: datetime = T0
    plan: dict[str, Any] | None = None
    units: int = 1
    cancelled: bool = False
    trial_end: datetime | None = None
    trialed: bool = False
    cycle_end: datetime = T0 + CYCLE
    pending: tuple[dict[str, Any], int] | None = None
    upgraded_from: tuple[dict[str, Any], int] | None = None
    sent: list[Sent] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.plan is not None and not self.cancelled

    def on_trial(self, at: datetime | None = None) -> bool:
        return self.trial_end is not None and (at or self.now) < self.trial_end

    def purchase_body(self, plan: dict[str, Any], units: int) -> dict[str, Any]:
        trial = self.on_trial()
        return purchase(
            plan,
            unit_count=units,
            on_free_trial=trial,
            free_trial_ends_on=self.trial_end if trial else None,
            next_billing_date=self.cycle_end,
        )

    def send(
        self,
        action: str,
        effective_date: datetime,
        current: dict[str, Any],
        previous: dict[str, Any] | None = None,
    ) -> None:
        # GUIDs derive from the drawn history only, so hypothesis can replay and shrink it.
        index = len(self.sent)
        guid = (
            github_delivery_id(self.now, sequence=index)
            if self.time_based_guids
            else str(uuid.UUID(int=index + 1, version=4))
        )
        self.sent.append(Sent(event(action, effective_date, current, previous=previous), guid))
        self.now += MINUTE

    def wait(self, days: int) -> None:
        until = self.now + timedelta(days=days)
        while self.active and self.cycle_end <= until:
            self.now = max(self.now, self.cycle_end)
            if self.trial_end is not None and self.trial_end <= self.now:
                self.trial_end = None
            if self.pending is not None:
                assert self.plan is not None
                before = self.purchase_body(self.plan, self.units)
                self.plan, self.units = self.pending
                self.pending = None
                self.cycle_end += CYCLE
                self.send("changed", self.now, self.purchase_body(self.plan, self.units), before)
            else:
                self.cycle_end += CYCLE
        self.now = max(self.now, until)
        if self.trial_end is not None and self.trial_end <= self.now:
            self.trial_end = None
        self.upgraded_from = None

    def buy(self, plan: dict[str, Any], units: int, trial: bool) -> None:
        self.plan, self.units, self.cancelled, self.pending = plan, units, False, None
        self.upgraded_from = None
        self.cycle_end = self.now + CYCLE
        if trial and plan["has_free_trial"] and not self.trialed:
            self.trial_end, self.trialed = self.now + TRIAL, True
        self.send("purchased", self.now, self.purchase_body(plan, units))

    def change(self, plan: dict[str, Any], units: int) -> None:
        assert self.plan is not None
        before = self.purchase_body(self.plan, self.units)
        self.upgraded_from = (self.plan, self.units)
        self.plan, self.units, self.pending = plan, units, None
        self.send("changed", self.now, self.purchase_body(plan, units), before)

    def revert(self) -> None:
        """The upgrade's payment failed: GitHub puts the account back on its previous plan."""
        assert self.plan is not None
        assert self.upgraded_from is not None
        before = self.purchase_body(self.plan, self.units)
        self.now += timedelta(hours=1)
        self.plan, self.units = self.upgraded_from
        self.upgraded_from = None
        self.send("changed", self.now, self.purchase_body(self.plan, self.units), before)

    def schedule(self, plan: dict[str, Any], units: int) -> None:
        assert self.plan is not None
        self.pending, self.upgraded_from = (plan, units), None
        self.send(
            "pending_change",
            self.cycle_end,
            self.purchase_body(plan, units),
            self.purchase_body(self.plan, self.units),
        )

    def unschedule(self) -> None:
        assert self.plan is not None
        self.pending, self.upgraded_from = None, None
        self.send("pending_change_cancelled", self.now, self.purchase_body(self.plan, self.units))

    def cancel(self) -> None:
        assert self.plan is not None
        self.pending, self.upgraded_from = None, None
        if not self.on_trial():
            # Paid plans: GitHub sends `cancelled` when it takes effect, at the end of the cycle.
            self.now = max(self.now, self.cycle_end)
        body = self.purchase_body(self.plan, self.units)
        self.trial_end = None
        self.cancelled = True
        self.send("cancelled", self.now, body)


def simulate(data: st.DataObject, *, time_based_guids: bool) -> GitHubSide:
    github = GitHubSide(time_based_guids)
    plan, units = data.draw(st.sampled_from(_choices()), label="first plan")
    github.buy(plan, units, data.draw(st.booleans(), label="trial"))
    for _ in range(data.draw(st.integers(min_value=1, max_value=12), label="steps")):
        assert github.plan is not None
        cost = _cost(github.plan, github.units)
        moves = ["wait"]
        if github.active:
            moves += ["upgrade", "cancel"]
            if not github.on_trial():
                moves.append("schedule")
            if github.pending is not None:
                moves.append("unschedule")
            if github.upgraded_from is not None:
                moves.append("revert")
        else:
            moves.append("buy")
        move = data.draw(st.sampled_from(moves), label="move")
        if move == "wait":
            github.wait(data.draw(st.integers(min_value=1, max_value=45), label="days"))
        elif move == "buy":
            choice = data.draw(st.sampled_from(_choices()), label="plan")
            github.buy(*choice, data.draw(st.booleans(), label="trial"))
        elif move == "upgrade":
            options = [c for c in _choices() if _cost(*c) > cost]
            if options:
                github.change(*data.draw(st.sampled_from(options), label="upgrade to"))
        elif move == "schedule":
            options = [c for c in _choices() if _cost(*c) < cost]
            if options:
                github.schedule(*data.draw(st.sampled_from(options), label="downgrade to"))
        elif move == "unschedule":
            github.unschedule()
        elif move == "revert":
            github.revert()
        else:
            github.cancel()
        github.now += MINUTE
    return github


def replay(deliveries: Sequence[Sent], received_at: datetime) -> Subscription:
    subscription: Subscription | None = None
    for sent in deliveries:
        subscription = apply(
            subscription, sent.event, received_at=received_at, delivery_id=sent.guid
        ).subscription
    assert subscription is not None
    result = tick(subscription, received_at).subscription
    assert result is not None
    return result


def trace(deliveries: Sequence[Sent], received_at: datetime) -> str:
    """A readable account of a replay, for failure messages."""
    lines: list[str] = []
    subscription: Subscription | None = None
    for sent in deliveries:
        evt = sent.event
        transition = apply(subscription, evt, received_at=received_at, delivery_id=sent.guid)
        subscription = transition.subscription
        sent_at = github_sent_at(sent.guid)
        previous = evt.previous_marketplace_purchase
        lines.append(
            f"{evt.action.value} eff {evt.effective_date:%m-%d %H:%M} sent {sent_at:%m-%d %H:%M} "
            if sent_at
            else f"{evt.action.value} eff {evt.effective_date:%m-%d %H:%M} "
        )
        lines[-1] += (
            f"plan {evt.marketplace_purchase.plan.id}x{evt.marketplace_purchase.unit_count}"
            + (f" from {previous.plan.id}x{previous.unit_count}" if previous else "")
            + f" -> {transition.history.reason if transition.history else ''}"
        )
    if subscription is not None:
        lines.append(
            f"tick -> {commercial_state(tick(subscription, received_at).subscription or subscription)}"
        )
    return "\n".join(lines)


def commercial_state(sub: Subscription) -> tuple[object, ...]:
    """What the account is entitled to and what is scheduled: everything but bookkeeping."""
    return (
        sub.status,
        sub.plan.terms,
        (sub.pending_change.plan.terms, sub.pending_change.effective_date) if sub.pending_change else None,
        sub.pending_cancellation.effective_date if sub.pending_cancellation else None,
        sub.trial_ends_at,
    )


# MNO_PROPERTY_EXAMPLES raises the search for a soak run (e.g. 20000); the default keeps CI quick.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("MNO_PROPERTY_EXAMPLES", "300")),
    deadline=None,
    database=None,  # no example database written into the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_delivery_order_ends_where_send_order_does(data: st.DataObject) -> None:
    """Any permutation of a lifecycle's deliveries (time-based GUIDs) ends in the send-order state."""
    github = simulate(data, time_based_guids=True)
    received = github.now + MINUTE
    expected = replay(github.sent, received)
    shuffled = data.draw(st.permutations(github.sent), label="delivery order")
    assert commercial_state(replay(shuffled, received)) == commercial_state(expected), (
        f"in send order:\n{trace(github.sent, received)}\n\nshuffled:\n{trace(shuffled, received)}"
    )


_DELAYS = tuple(timedelta(minutes=m) for m in (0, 1, 60, 24 * 60, 10 * 24 * 60, 40 * 24 * 60))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_delayed_deliveries_with_scheduler_ticks_end_where_send_order_does(data: st.DataObject) -> None:
    """Deliveries delayed by up to weeks, the scheduler ticking in between, end in the send-order state."""
    github = simulate(data, time_based_guids=True)
    arrivals: list[tuple[datetime, int, Sent]] = []
    for index, item in enumerate(github.sent):
        sent_at = github_sent_at(item.guid)
        assert sent_at is not None
        arrivals.append((sent_at + data.draw(st.sampled_from(_DELAYS), label="delay"), index, item))
    arrivals.sort(key=lambda arrival: (arrival[0], arrival[1]))
    subscription: Subscription | None = None
    for arrived_at, _, item in arrivals:
        if subscription is not None and data.draw(st.booleans(), label="tick first"):
            subscription = tick(subscription, arrived_at).subscription
        subscription = apply(
            subscription, item.event, received_at=arrived_at, delivery_id=item.guid
        ).subscription
    assert subscription is not None
    final = max(arrivals[-1][0], github.now) + MINUTE
    ended = tick(subscription, final).subscription
    assert ended is not None
    expected = replay(github.sent, final)
    assert commercial_state(ended) == commercial_state(expected), (
        f"in send order:\n{trace(github.sent, final)}\n\narrivals: "
        + ", ".join(f"{item.event.action.value}@{at:%m-%d %H:%M}" for at, _, item in arrivals)
    )


@PROPERTY_SETTINGS
@given(data=st.data())
def test_send_order_agrees_with_githubs_view(data: st.DataObject) -> None:
    """Delivered in order, the record matches what GitHub holds: status, plan, pending change."""
    github = simulate(data, time_based_guids=True)
    received = github.now + MINUTE
    sub = replay(github.sent, received)
    assert github.plan is not None
    if github.cancelled:
        assert sub.status is SubscriptionStatus.CANCELLED
        return
    expected_status = SubscriptionStatus.TRIALING if github.on_trial(received) else SubscriptionStatus.ACTIVE
    assert sub.status is expected_status
    assert sub.plan.terms[:2] == (github.plan["id"], github.units)
    pending = (github.pending[0]["id"], github.pending[1]) if github.pending else None
    assert (sub.pending_change.plan.terms[:2] if sub.pending_change else None) == pending


_BASE_ACTIONS = ("purchased", "changed", "cancelled")


@st.composite
def base_events(draw: st.DrawFn) -> list[Sent]:
    """State-setting events with arbitrary (often equal) effective dates and random GUIDs."""
    count = draw(st.integers(min_value=1, max_value=8))
    sent: list[Sent] = []
    for _ in range(count):
        action = draw(st.sampled_from(_BASE_ACTIONS))
        when = T0 + timedelta(days=draw(st.integers(min_value=0, max_value=5)))
        plan = draw(st.sampled_from((FREE, BASIC, TEAM, ENTERPRISE)))
        trial = draw(st.booleans())
        body = purchase(
            plan,
            unit_count=draw(st.integers(min_value=1, max_value=3)),
            on_free_trial=trial,
            free_trial_ends_on=when + TRIAL if trial else None,
        )
        sent.append(Sent(event(action, when, body), str(draw(st.uuids(version=4)))))
    return sent


@PROPERTY_SETTINGS
@given(deliveries=base_events(), data=st.data())
def test_state_setting_events_in_any_order_equal_effective_date_order(
    deliveries: list[Sent], data: st.DataObject
) -> None:
    """purchased/changed/cancelled in any order end as if delivered in effective_date order."""
    received = T0 + timedelta(days=30)
    in_date_order = sorted(
        deliveries, key=lambda s: EventKey.of(s.event.action, s.event.effective_date, s.guid).sort_key
    )
    shuffled = data.draw(st.permutations(deliveries))
    assert commercial_state(replay(shuffled, received)) == commercial_state(replay(in_date_order, received))


def test_simulation_exercises_every_action() -> None:
    """The lifecycle generator can produce each of GitHub's five actions (guards the property's reach)."""
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(data=st.data())
    def collect(data: st.DataObject) -> None:
        github = simulate(data, time_based_guids=True)
        seen.update(sent.event.action.value for sent in github.sent)

    collect()
    assert seen == {"purchased", "changed", "pending_change", "pending_change_cancelled", "cancelled"}
