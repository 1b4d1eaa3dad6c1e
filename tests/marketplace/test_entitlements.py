"""Plan mapping and entitlement checks."""

from __future__ import annotations

import pytest

from services.marketplace.entitlements import (
    Entitlements,
    LimitName,
    UnknownPlan,
    check_feature,
    check_limit,
    normalise_plan_name,
    plan_key,
)
from services.marketplace.models import MarketplacePlan
from shared.config.models import DEFAULT_PLANS
from tests.marketplace.factories import BASIC, ENTERPRISE, TEAM, subscribed

TEAM_PLAN = MarketplacePlan.model_validate(TEAM)
SMALL = Entitlements(
    monthly_token_events=1000,
    artifact_storage_bytes=1 << 20,
    prompts=50,
    experiments=5,
    seats=3,
    features=("artifacts", "prompts"),
)


def test_plan_key_by_integer_id() -> None:
    """A mapping keyed by the Marketplace plan id finds the config plan."""
    assert plan_key(TEAM_PLAN, {436: "team", 437: "enterprise"}) == "team"


def test_plan_key_by_id_as_yaml_string() -> None:
    """An id written as a string key (as YAML mappings often have it) matches too."""
    assert plan_key(TEAM_PLAN, {"436": "team"}) == "team"


@pytest.mark.parametrize("spelling", ["Team", "team", " TEAM "])
def test_plan_key_by_normalised_name(spelling: str) -> None:
    """Plan names match after case and separator normalisation."""
    assert plan_key(TEAM_PLAN, {spelling: "team"}) == "team"


def test_plan_names_normalise_separators() -> None:
    """Spaces, underscores, dashes and case all fold to one spelling."""
    assert normalise_plan_name("Basic Plan") == normalise_plan_name("basic_plan") == "basic-plan"
    assert normalise_plan_name("  Pro -- Plus ") == "pro-plus"


def test_plan_key_prefers_id_over_name() -> None:
    """When both the id and the name are mapped, the id (which cannot be edited) wins."""
    assert plan_key(TEAM_PLAN, {"Team": "by-name", 436: "by-id"}) == "by-id"


def test_plan_key_accepts_a_subscription_plan() -> None:
    """The plan held in a `Subscription` maps the same way as the payload's plan."""
    assert plan_key(subscribed(ENTERPRISE).plan, {"enterprise": "enterprise"}) == "enterprise"


def test_plan_key_default_and_unknown() -> None:
    """Unmapped plans fall back to `default`, or raise `UnknownPlan` naming the id and name to map."""
    assert plan_key(TEAM_PLAN, {}, default="free") == "free"
    with pytest.raises(UnknownPlan, match=r"436.*'Team'.*'team'"):
        plan_key(TEAM_PLAN, {"basic-plan": "basic"})


def test_plan_key_refuses_an_ambiguous_mapping() -> None:
    """Two names that normalise alike but map to different plans are an error, not a coin toss."""
    with pytest.raises(ValueError, match="ambiguous"):
        plan_key(MarketplacePlan.model_validate(BASIC), {"Basic Plan": "a", "basic_plan": "b"})


def test_check_limit_allows_within_the_maximum() -> None:
    """A request that keeps usage at or under the maximum is allowed."""
    decision = check_limit(SMALL, {"prompts": 49}, "prompts")
    assert decision.allowed
    assert (decision.limit, decision.current, decision.requested, decision.maximum) == (
        LimitName.PROMPTS,
        49,
        1,
        50,
    )
    assert decision.remaining == 1


def test_check_limit_refuses_over_the_maximum_with_a_clear_message() -> None:
    """A request past the maximum is refused, and the message names the limit, usage and maximum."""
    decision = check_limit(SMALL, {"prompts": 50}, LimitName.PROMPTS)
    assert not decision.allowed
    assert decision.remaining == 0
    assert decision.message == "plan limit 'prompts' exceeded: 50 in use, 1 more requested, maximum 50"


def test_check_limit_bulk_request() -> None:
    """A bulk request is refused if the whole of it does not fit, even when some would."""
    decision = check_limit(SMALL, {"monthly_token_events": 900}, "monthly_token_events", requested=200)
    assert not decision.allowed
    assert "900 in use" in decision.message
    assert "200 more" in decision.message
    assert "1,000" in decision.message


def test_check_limit_storage_message_says_bytes() -> None:
    """Storage limits are reported in bytes."""
    decision = check_limit(SMALL, {"artifact_storage_bytes": 1 << 20}, "artifact_storage_bytes", 10)
    assert not decision.allowed
    assert "1,048,576 bytes" in decision.message


def test_check_limit_zero_request_checks_current_usage() -> None:
    """`requested=0` asks whether the current usage is within the plan (e.g. after a downgrade)."""
    assert check_limit(SMALL, {"seats": 3}, "seats", 0).allowed
    assert not check_limit(SMALL, {"seats": 4}, "seats", 0).allowed


@pytest.mark.parametrize(
    ("usage", "limit", "requested", "match"),
    [
        ({"prompts": 1}, "tokens", 1, "unknown limit 'tokens'"),
        ({"prompts": 1}, "prompts", -1, "must not be negative"),
        ({"seats": 1}, "prompts", 1, "no figure for 'prompts'"),
        ({"prompts": -5}, "prompts", 1, "must not be negative"),
    ],
)
def test_check_limit_rejects_bad_input(usage: dict[str, int], limit: str, requested: int, match: str) -> None:
    """Unknown limit names, negative figures and missing usage are errors, not silent allowances."""
    with pytest.raises(ValueError, match=match):
        check_limit(SMALL, usage, limit, requested)


def test_check_limit_takes_the_configuration_entitlements() -> None:
    """The configuration's `PlanEntitlements` fits the check without conversion."""
    free = DEFAULT_PLANS["free"]
    decision = check_limit(free, {"experiments": free.experiments}, "experiments")
    assert not decision.allowed
    assert f"maximum {free.experiments}" in decision.message
    assert check_feature(free, "dashboard").allowed


def test_check_feature() -> None:
    """Features are allowed when listed in the plan; a refusal lists what the plan includes."""
    assert check_feature(SMALL, "prompts").allowed
    refused = check_feature(SMALL, "forecasts")
    assert not refused.allowed
    assert refused.message == "feature 'forecasts' is not included in the plan (included: artifacts, prompts)"


def test_entitlements_reject_negative_limits() -> None:
    """An `Entitlements` with a negative limit cannot be built."""
    with pytest.raises(ValueError, match="seats"):
        Entitlements(monthly_token_events=1, artifact_storage_bytes=1, prompts=1, experiments=1, seats=-1)
