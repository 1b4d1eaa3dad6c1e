"""Budget request bodies take strict numbers and flags (pure validation)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.messages.budgets import CreateBudget, UnpricedPolicy, UpdateBudget

BUDGET_ID = "00000000-0000-4000-8000-000000000001"
CREATE: dict[str, Any] = {"name": "cap", "amount_usd": "5"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("thresholds", ["50"]),
        ("thresholds", [True]),
        ("thresholds", [50.0]),
        ("hard_limit", "true"),
        ("hard_limit", 1),
        ("rolling_hours", "24"),
        ("rolling_hours", True),
        ("amount_usd", True),
        ("unpriced", True),
    ],
)
def test_numbers_and_flags_of_budget_bodies_are_strict(field: str, value: object) -> None:
    """A threshold, flag, hour count or amount given as a string-for-a-number, a boolean-for-a-number
    or a number-for-a-boolean is refused, on creation and on change alike."""
    extra = {"period": "rolling"} if field == "rolling_hours" else {}
    with pytest.raises(ValidationError) as created:
        CreateBudget.model_validate({**CREATE, **extra, field: value})
    assert created.value.errors()[0]["loc"][0] == field
    if field in UpdateBudget.model_fields:
        with pytest.raises(ValidationError):
            UpdateBudget.model_validate({"budget_id": BUDGET_ID, field: value})


def test_hard_limits_refuse_unpriced_calls_unless_told_otherwise() -> None:
    """A new budget refuses calls without a price by default; `allow` is taken on creation and change."""
    assert CreateBudget.model_validate(CREATE).unpriced is UnpricedPolicy.REFUSE
    assert CreateBudget.model_validate({**CREATE, "unpriced": "allow"}).unpriced is UnpricedPolicy.ALLOW
    change = UpdateBudget.model_validate({"budget_id": BUDGET_ID, "unpriced": "allow"})
    assert change.unpriced is UnpricedPolicy.ALLOW
