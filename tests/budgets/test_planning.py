"""Budget periods and admission planning (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.budgets.periods import period_bounds
from services.budgets.planning import (
    BudgetRule,
    PricedItem,
    SpendRevision,
    crossed_thresholds,
    plan_admission,
    revision_charges,
)
from shared.messages.budgets import Period, RefusalReason, ScopeKind, UnpricedPolicy

AT = datetime(2026, 11, 25, 17, 42, 10, tzinfo=UTC)  # a Wednesday


def rule(
    budget_id: str = "b1",
    amount: str = "10",
    *,
    hard: bool = True,
    scope: ScopeKind = ScopeKind.TEAM,
    value: str = "",
    period: Period = Period.MONTH,
    hours: int | None = None,
) -> BudgetRule:
    return BudgetRule(budget_id, budget_id, scope, value, Decimal(amount), period, hours, (50, 80, 100), hard)


def item(index: int, cost: str, *budgets: str, at: datetime = AT) -> PricedItem:
    return PricedItem(index, f"e{index}", at, Decimal(cost), budgets)


@pytest.mark.parametrize(
    ("period", "hours", "start", "end"),
    [
        (Period.DAY, None, datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)),
        (Period.WEEK, None, datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)),
        (Period.MONTH, None, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        (Period.ROLLING, 24, datetime(2026, 11, 24, 18, tzinfo=UTC), datetime(2026, 11, 25, 18, tzinfo=UTC)),
    ],
)
def test_period_bounds(period: Period, hours: int | None, start: datetime, end: datetime) -> None:
    """Calendar periods are UTC days, Monday weeks and months; rolling windows end after this hour."""
    assert period_bounds(period, AT, hours) == (start, end)


def test_december_ends_in_january() -> None:
    """The month after December is the next year's January."""
    assert period_bounds(Period.MONTH, datetime(2026, 12, 31, 23, tzinfo=UTC))[1] == datetime(
        2027, 1, 1, tzinfo=UTC
    )


def test_hard_limit_admits_until_the_amount_and_refuses_the_rest() -> None:
    """$4 + $4 fit in $10, the third $4 does not, a later $2 still does."""
    rules = {"b1": rule()}
    plan = plan_admission(
        rules, {}, [item(0, "4", "b1"), item(1, "4", "b1"), item(2, "4", "b1"), item(3, "2", "b1")]
    )
    assert [i.index for i in plan.admitted] == [0, 1, 3]
    assert [(i.index, r.id) for i, r, _ in plan.refused] == [(2, "b1")]
    assert sum(c for c, _ in plan.charges.values()) == Decimal(10)


def test_existing_spend_counts_against_the_amount() -> None:
    """With $9.50 spent this month, a $1 call is refused."""
    start = period_bounds(Period.MONTH, AT)[0]
    plan = plan_admission({"b1": rule()}, {("b1", start): Decimal("9.5")}, [item(0, "1", "b1")])
    assert plan.admitted == []


def test_soft_budgets_count_everything_and_refuse_nothing() -> None:
    """Without a hard limit the spend may pass the amount; it is still counted."""
    plan = plan_admission({"b1": rule(hard=False)}, {}, [item(0, "8", "b1"), item(1, "8", "b1")])
    assert len(plan.admitted) == 2
    assert sum(c for c, _ in plan.charges.values()) == Decimal(16)


def test_an_event_refused_by_one_budget_counts_in_none() -> None:
    """A call blocked by the project's hard limit is not counted in the team's soft budget either."""
    rules = {
        "team": rule("team", "100", hard=False),
        "proj": rule("proj", "1", scope=ScopeKind.PROJECT, value="p"),
    }
    plan = plan_admission(rules, {}, [item(0, "2", "team", "proj")])
    assert plan.charges == {}


def test_scopes_cover_only_their_own_calls() -> None:
    """A project budget covers that project; a model budget that model; a key budget that key."""
    assert rule(scope=ScopeKind.PROJECT, value="p").covers(project="p", user=None, model="m", api_key_id=None)
    assert not rule(scope=ScopeKind.PROJECT, value="p").covers(
        project="q", user=None, model="m", api_key_id=None
    )
    assert rule(scope=ScopeKind.MODEL, value="m").covers(project=None, user=None, model="m", api_key_id=None)
    assert rule(scope=ScopeKind.API_KEY, value="k").covers(project=None, user=None, model="m", api_key_id="k")
    assert not rule(scope=ScopeKind.USER, value="u").covers(
        project=None, user=None, model="m", api_key_id="k"
    )


def test_thresholds_crossed_once_on_the_way() -> None:
    """From $4 to $9 of $10 passes 50 % and 80 %; from $9 to $9.5 passes none."""
    assert crossed_thresholds(rule(), Decimal(4), Decimal(9)) == [50, 80]
    assert crossed_thresholds(rule(), Decimal(9), Decimal("9.5")) == []
    assert crossed_thresholds(rule(), Decimal("9.5"), Decimal(10)) == [100]


def test_events_of_last_month_count_in_last_month() -> None:
    """A late call stamped in October charges October's period, not November's."""
    october = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    start_nov = period_bounds(Period.MONTH, AT)[0]
    plan = plan_admission({"b1": rule()}, {("b1", start_nov): Decimal(10)}, [item(0, "5", "b1", at=october)])
    assert len(plan.admitted) == 1


@given(
    st.lists(st.decimals(min_value=0, max_value=5, places=6), max_size=60),
    st.decimals(min_value=1, max_value=50, places=2),
)
def test_admitted_spend_never_passes_a_hard_amount(costs: list[Decimal], amount: Decimal) -> None:
    """Whatever the costs, the admitted total of a hard-limited budget stays within its amount."""
    rules = {"b1": rule(amount=str(amount))}
    plan = plan_admission(
        rules, {}, [item(i, str(c), "b1", at=AT + timedelta(minutes=i)) for i, c in enumerate(costs)]
    )
    assert sum(i.cost for i in plan.admitted) <= amount


def revision(delta: str, at: datetime = AT, project: str | None = "p") -> SpendRevision:
    return SpendRevision(
        timestamp=at, project=project, user=None, model="gpt-4o", api_key_id="k", delta=Decimal(delta)
    )


def test_repricing_moves_the_spend_of_budgets_that_counted_the_event() -> None:
    """A re-priced event's cost change lands in its hour of every covering budget made before its
    period ended; a budget of another scope, one made in a later period, and zero changes get nothing."""
    created = datetime(2026, 11, 10, tzinfo=UTC)
    team = BudgetRule("team", "team", ScopeKind.TEAM, "", Decimal(10), Period.MONTH, None, (), True, created)
    project = BudgetRule(
        "proj", "proj", ScopeKind.PROJECT, "p", Decimal(10), Period.MONTH, None, (), True, created
    )
    other = BudgetRule(
        "other", "other", ScopeKind.PROJECT, "q", Decimal(10), Period.MONTH, None, (), True, created
    )
    later = BudgetRule(
        "later",
        "later",
        ScopeKind.TEAM,
        "",
        Decimal(10),
        Period.MONTH,
        None,
        (),
        True,
        AT + timedelta(days=10),
    )
    revisions = [
        revision("-0.5"),
        revision("-0.25", AT + timedelta(minutes=5)),
        revision("0.1", datetime(2026, 10, 31, 23, 59, tzinfo=UTC)),  # before the budgets' first period
        revision("0", project="q"),
    ]

    charges = revision_charges([team, project, other, later], revisions)

    hour = AT.replace(minute=0, second=0)
    assert charges == {("team", hour): (Decimal("-0.75"), 0), ("proj", hour): (Decimal("-0.75"), 0)}


def test_a_hard_limit_set_to_refuse_unpriced_calls_refuses_them_whatever_its_room() -> None:
    """An unpriced call (cost unknown, 0 here) is refused by a hard limit that refuses unpriced calls,
    with that reason, though the budget has room; a hard limit that allows them and a soft budget
    count it, as unpriced; a priced call in the same batch is admitted."""
    refusing = BudgetRule(
        "r",
        "r",
        ScopeKind.TEAM,
        "",
        Decimal(10),
        Period.MONTH,
        None,
        (),
        True,
        unpriced=UnpricedPolicy.REFUSE,
    )
    allowing = BudgetRule(
        "a", "a", ScopeKind.TEAM, "", Decimal(10), Period.MONTH, None, (), True, unpriced=UnpricedPolicy.ALLOW
    )
    soft = BudgetRule(
        "s",
        "s",
        ScopeKind.TEAM,
        "",
        Decimal(10),
        Period.MONTH,
        None,
        (),
        False,
        unpriced=UnpricedPolicy.REFUSE,
    )
    unpriced = PricedItem(0, "e0", AT, Decimal(0), ("r",), priced=False)
    priced = PricedItem(1, "e1", AT, Decimal(1), ("r",))
    plan = plan_admission({"r": refusing}, {}, [unpriced, priced])
    assert [(i.index, r.id, why) for i, r, why in plan.refused] == [(0, "r", RefusalReason.UNPRICED_MODEL)]
    assert [i.index for i in plan.admitted] == [1]
    assert plan.unpriced == {}
    for rule in (allowing, soft):
        item = PricedItem(0, "e0", AT, Decimal(0), (rule.id,), priced=False)
        plan = plan_admission({rule.id: rule}, {}, [item])
        assert (plan.refused, [i.index for i in plan.admitted]) == ([], [0])
        hour = AT.replace(minute=0, second=0)
        assert plan.unpriced == {(rule.id, hour): 1}
        assert plan.charges == {(rule.id, hour): (Decimal(0), 1)}
