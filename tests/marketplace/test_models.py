"""The `marketplace_purchase` payload models: GitHub's documented shapes, normalised spellings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.marketplace.models import (
    AccountType,
    BillingCycle,
    MarketplaceAction,
    MarketplacePlan,
    MarketplacePurchaseEvent,
    PriceModel,
)
from tests.marketplace.factories import BASIC, ENTERPRISE, T0, TEAM, USER, payload, purchase

# GitHub's documented example `purchased` payload, as published (trimmed of URL fields).
DOCUMENTED_EXAMPLE = {
    "action": "purchased",
    "effective_date": "2017-10-25T00:00:00+00:00",
    "sender": {
        "login": "username",
        "id": 3877742,
        "avatar_url": "https://avatars2.githubusercontent.com/u/3877742?v=4",
        "gravatar_id": "",
        "url": "https://api.github.com/users/username",
        "type": "User",
        "site_admin": True,
        "email": "username@email.com",
    },
    "marketplace_purchase": {
        "account": {
            "type": "Organization",
            "id": 18404719,
            "node_id": "MDEyOk9yZ2FuaXphdGlvbjE4NDA0NzE5",
            "login": "username",
            "organization_billing_email": "username@email.com",
        },
        "billing_cycle": "monthly",
        "unit_count": 1,
        "on_free_trial": False,
        "free_trial_ends_on": None,
        "next_billing_date": "2017-11-05T00:00:00+00:00",
        "plan": {
            "id": 435,
            "name": "Basic Plan",
            "description": "Basic Plan",
            "monthly_price_in_cents": 1000,
            "yearly_price_in_cents": 10000,
            "price_model": "per-unit",
            "has_free_trial": True,
            "unit_name": "seat",
            "bullets": ["Is Basic", "Because Basic "],
        },
    },
}


def _errors(body: object) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        MarketplacePurchaseEvent.model_validate(body)
    return [(tuple(error["loc"]), error["msg"]) for error in caught.value.errors()]


def test_documented_example_payload_parses() -> None:
    """GitHub's documented example `purchased` payload validates into the models field by field."""
    evt = MarketplacePurchaseEvent.model_validate(DOCUMENTED_EXAMPLE)
    assert evt.action is MarketplaceAction.PURCHASED
    assert evt.effective_date == datetime(2017, 10, 25, tzinfo=UTC)
    assert evt.sender.login == "username"
    mp = evt.marketplace_purchase
    assert mp.account.type is AccountType.ORGANIZATION
    assert mp.account.organization_billing_email == "username@email.com"
    assert mp.billing_cycle is BillingCycle.MONTHLY
    assert mp.unit_count == 1
    assert mp.free_trial_ends_on is None
    assert mp.next_billing_date == datetime(2017, 11, 5, tzinfo=UTC)
    assert mp.plan.price_model is PriceModel.PER_UNIT
    assert mp.plan.bullets == ("Is Basic", "Because Basic ")
    assert evt.account is mp.account


def test_unknown_fields_are_ignored() -> None:
    """Fields GitHub adds later (anywhere in the payload) are ignored rather than rejected."""
    body = payload("changed", T0, previous=purchase(TEAM))
    body["enterprise"] = {"id": 1}
    body["marketplace_purchase"]["is_installed"] = True
    body["marketplace_purchase"]["plan"]["state"] = "published"
    body["marketplace_purchase"]["account"]["email"] = None
    evt = MarketplacePurchaseEvent.model_validate(body)
    assert evt.previous_marketplace_purchase is not None
    assert evt.previous_marketplace_purchase.plan.id == TEAM["id"]
    assert not hasattr(evt, "enterprise")


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("FLAT_RATE", PriceModel.FLAT_RATE),
        ("flat-rate", PriceModel.FLAT_RATE),
        ("flat_rate", PriceModel.FLAT_RATE),
        (" Flat-Rate ", PriceModel.FLAT_RATE),
        ("PER_UNIT", PriceModel.PER_UNIT),
        ("per-unit", PriceModel.PER_UNIT),
        ("per_unit", PriceModel.PER_UNIT),
        ("FREE", PriceModel.FREE),
        ("free", PriceModel.FREE),
    ],
)
def test_price_model_spellings_are_normalised(spelling: str, expected: PriceModel) -> None:
    """Every spelling GitHub uses for `price_model` maps to one enum member."""
    plan = MarketplacePlan.model_validate({**ENTERPRISE, "price_model": spelling})
    assert plan.price_model is expected


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("monthly", BillingCycle.MONTHLY), ("Yearly", BillingCycle.YEARLY), ("MONTHLY", BillingCycle.MONTHLY)],
)
def test_billing_cycle_spellings_are_normalised(spelling: str, expected: BillingCycle) -> None:
    """`billing_cycle` is read case-insensitively."""
    evt = MarketplacePurchaseEvent.model_validate(payload("purchased", T0, purchase(billing_cycle=spelling)))
    assert evt.marketplace_purchase.billing_cycle is expected


def test_free_plan_may_have_no_billing_cycle_nor_next_billing_date() -> None:
    """A free plan on a free account has null `billing_cycle` and `next_billing_date`, as documented."""
    evt = MarketplacePurchaseEvent.model_validate(
        payload("purchased", T0, purchase(billing_cycle=None, next_billing_date=None, unit_count=None))
    )
    assert evt.marketplace_purchase.billing_cycle is None
    assert evt.marketplace_purchase.next_billing_date is None
    assert evt.marketplace_purchase.unit_count is None


def test_user_accounts_and_account_type_case() -> None:
    """A personal account parses without a billing e-mail, and `type` is read case-insensitively."""
    evt = MarketplacePurchaseEvent.model_validate(payload("purchased", T0, purchase(account=USER)))
    assert evt.account.type is AccountType.USER
    assert evt.account.organization_billing_email is None
    body = payload("purchased", T0)
    body["marketplace_purchase"]["account"]["type"] = "organization"
    assert MarketplacePurchaseEvent.model_validate(body).account.type is AccountType.ORGANIZATION


def test_timestamps_become_aware_utc() -> None:
    """Offsets, `Z`, naive timestamps and bare dates are all read as aware UTC datetimes."""
    body = payload("purchased", T0, purchase(on_free_trial=True))
    body["effective_date"] = "2026-03-01T02:00:00+02:00"
    body["marketplace_purchase"]["free_trial_ends_on"] = "2026-03-15"
    body["marketplace_purchase"]["next_billing_date"] = "2026-04-01T00:00:00"
    mp = MarketplacePurchaseEvent.model_validate(body)
    assert mp.effective_date == T0
    assert mp.effective_date.tzinfo is UTC
    assert mp.marketplace_purchase.free_trial_ends_on == datetime(2026, 3, 15, tzinfo=UTC)
    assert mp.marketplace_purchase.next_billing_date == datetime(2026, 4, 1, tzinfo=UTC)


def test_bullets_accept_documented_alias_and_null() -> None:
    """The plan's bullets are read from `bullets` or `bullet` (GitHub's table's name); null is empty."""
    assert MarketplacePlan.model_validate({**TEAM, "bullets": None}).bullets == ()
    plan = {key: value for key, value in TEAM.items() if key != "bullets"}
    assert MarketplacePlan.model_validate({**plan, "bullet": ["One"]}).bullets == ("One",)


def test_models_are_frozen() -> None:
    """A validated event cannot be modified."""
    evt = MarketplacePurchaseEvent.model_validate(DOCUMENTED_EXAMPLE)
    with pytest.raises(ValidationError):
        evt.marketplace_purchase.plan.name = "Other"  # type: ignore[misc]


def test_unknown_action_is_a_clear_error() -> None:
    """An action GitHub does not document fails validation at `action`, listing the valid ones."""
    errors = _errors(payload("renewed", T0))
    assert errors[0][0] == ("action",)
    assert "purchased" in errors[0][1]
    assert "pending_change_cancelled" in errors[0][1]


def test_unknown_price_model_is_a_clear_error() -> None:
    """An unknown `price_model` fails validation at its full path."""
    body = payload("purchased", T0, purchase({**BASIC, "price_model": "metered"}))
    errors = _errors(body)
    assert errors[0][0] == ("marketplace_purchase", "plan", "price_model")
    assert "FLAT_RATE" in errors[0][1]


def test_missing_required_fields_are_named() -> None:
    """Missing `effective_date`, plan id and account are each reported at their own path."""
    body = payload("purchased", T0)
    del body["effective_date"]
    del body["marketplace_purchase"]["plan"]["id"]
    del body["marketplace_purchase"]["account"]
    locations = {loc for loc, _ in _errors(body)}
    assert ("effective_date",) in locations
    assert ("marketplace_purchase", "plan", "id") in locations
    assert ("marketplace_purchase", "account") in locations


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("marketplace_purchase", "unit_count"), -1),
        (("marketplace_purchase", "plan", "monthly_price_in_cents"), -100),
        (("marketplace_purchase", "account", "id"), 0),
        (("marketplace_purchase", "billing_cycle"), "weekly"),
        (("effective_date"), "next tuesday"),
        (("marketplace_purchase", "on_free_trial"), "maybe"),
    ],
)
def test_invalid_values_are_rejected_at_their_path(path: tuple[str, ...] | str, value: object) -> None:
    """Out-of-range or malformed values fail validation with the offending field's location."""
    body = payload("purchased", T0)
    keys = (path,) if isinstance(path, str) else path
    target = body
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    assert _errors(body)[0][0] == keys
