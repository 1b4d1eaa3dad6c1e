"""Per-unit purchases as seat limits, and which paid plans the plan mapping leaves to the default."""

from __future__ import annotations

from typing import Any

import pytest

from services.marketplace.entitlements import UnmappedPlan, seat_limit, unmapped_plans
from services.marketplace.models import PriceModel
from services.marketplace.state_machine import PlanSnapshot
from tests.marketplace.factories import BASIC, ENTERPRISE, FREE, T0, TEAM, event, purchase


def snapshot(plan: dict[str, Any], **purchase_fields: Any) -> PlanSnapshot:
    bought = event("purchased", T0, purchase(plan, **purchase_fields)).marketplace_purchase
    return PlanSnapshot.from_purchase(bought)


@pytest.mark.parametrize("spelling", ["PER_UNIT", "per-unit", "Per Unit", "per_unit"])
@pytest.mark.parametrize("units", [1, 10, 250])
def test_a_per_seat_purchase_is_its_seat_limit(spelling: str, units: int) -> None:
    """A per-unit plan sold by the seat, in any of GitHub's spellings, allows exactly the seats bought."""
    plan = {**BASIC, "price_model": spelling}
    assert seat_limit(snapshot(plan, unit_count=units)) == units


@pytest.mark.parametrize("unit_name", [None, "seat", "Seats", "user", "members"])
def test_seat_like_unit_names_count_as_seats(unit_name: str | None) -> None:
    """A per-unit plan whose unit is a seat, a user or a member (or unnamed) limits seats."""
    assert seat_limit(snapshot({**BASIC, "unit_name": unit_name}, unit_count=7)) == 7


def test_other_units_and_other_price_models_leave_the_configured_seats() -> None:
    """Flat-rate and free plans, and a per-unit plan counting something else, do not set seats."""
    assert seat_limit(snapshot(TEAM, unit_count=1)) is None
    assert seat_limit(snapshot(FREE, unit_count=1)) is None
    assert seat_limit(snapshot({**BASIC, "unit_name": "repository"}, unit_count=9)) is None
    assert seat_limit(snapshot(BASIC, unit_count=None)) is None


def test_paid_plans_missing_from_the_mapping_are_named_once_each() -> None:
    """Every paid plan the mapping names neither by id nor by name is listed once, by id; free
    plans (meant for the default plan) and mapped ones are not."""
    plans = [snapshot(p) for p in (FREE, BASIC, TEAM, ENTERPRISE, ENTERPRISE, BASIC)]
    mapping: dict[int | str, str] = {str(TEAM["id"]): "team"}
    assert unmapped_plans(plans, mapping) == [
        UnmappedPlan(BASIC["id"], BASIC["name"], PriceModel.PER_UNIT),
        UnmappedPlan(ENTERPRISE["id"], ENTERPRISE["name"], PriceModel.FLAT_RATE),
    ]
    by_name: dict[int | str, str] = {"basic plan": "team", ENTERPRISE["id"]: "team", "Team": "team"}
    assert unmapped_plans(plans, by_name) == []
